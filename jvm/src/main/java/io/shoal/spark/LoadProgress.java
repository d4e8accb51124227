package io.shoal.spark;

import io.shoal.conf.Sizes;
import java.io.PrintStream;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.LongAccumulator;

/**
 * The driver's progress bar for a distributed load, on stderr: files done (tasks of the load's job
 * group that finished, counted by this listener), bytes done (an accumulator the tasks add to),
 * throughput and elapsed time. On a terminal it redraws one line; otherwise it prints a line every
 * {@value #LOG_EVERY_SECONDS} s.
 */
final class LoadProgress extends SparkListener implements AutoCloseable {
  static final long LOG_EVERY_SECONDS = 10;
  private static final String JOB_GROUP = "spark.jobGroup.id";
  private static final int WIDTH = 30;

  private final SparkContext sc;
  private final String group;
  private final String label;
  private final long totalFiles;
  private final long totalBytes;
  private final LongAccumulator bytesDone;
  private final Set<Integer> stages = ConcurrentHashMap.newKeySet();
  private final AtomicLong filesDone = new AtomicLong();
  private final PrintStream out = System.err;
  private final boolean terminal = System.console() != null;
  private final long startNanos = System.nanoTime();
  private final Thread printer;
  private volatile boolean closed;

  LoadProgress(
      SparkContext sc,
      String group,
      String label,
      long totalFiles,
      long totalBytes,
      LongAccumulator bytesDone) {
    this.sc = sc;
    this.group = group;
    this.label = label;
    this.totalFiles = totalFiles;
    this.totalBytes = totalBytes;
    this.bytesDone = bytesDone;
    sc.addSparkListener(this);
    printer = new Thread(this::run, "shoal-progress");
    printer.setDaemon(true);
    printer.start();
  }

  @Override
  public void onStageSubmitted(SparkListenerStageSubmitted event) {
    Properties props = event.properties();
    if (props != null && group.equals(props.getProperty(JOB_GROUP))) {
      stages.add(event.stageInfo().stageId());
    }
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd event) {
    if (stages.contains(event.stageId()) && event.taskInfo().successful()) {
      filesDone.incrementAndGet();
    }
  }

  long filesDone() {
    return filesDone.get();
  }

  private void run() {
    long every = terminal ? 500 : LOG_EVERY_SECONDS * 1000;
    try {
      while (!closed) {
        Thread.sleep(every);
        if (!closed) {
          print(false);
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  String line() {
    long files = Math.min(filesDone.get(), totalFiles);
    long bytes = bytesDone.value();
    double secs = (System.nanoTime() - startNanos) / 1e9;
    double frac =
        totalBytes > 0
            ? Math.min(1.0, (double) bytes / totalBytes)
            : totalFiles > 0 ? (double) files / totalFiles : 1.0;
    int filled = (int) Math.round(frac * WIDTH);
    StringBuilder bar = new StringBuilder(WIDTH);
    for (int i = 0; i < WIDTH; i++) {
      bar.append(i < filled ? '#' : '.');
    }
    return String.format(
        "%s [%s] %3.0f%% %d/%d files %s/%s %s/s %.0fs",
        label,
        bar,
        frac * 100,
        files,
        totalFiles,
        Sizes.human(bytes),
        Sizes.human(totalBytes),
        Sizes.human(secs > 0 ? bytes / secs : 0),
        secs);
  }

  private synchronized void print(boolean last) {
    if (terminal) {
      out.print("\r" + line() + (last ? "\n" : ""));
    } else {
      out.println(line());
    }
    out.flush();
  }

  @Override
  public void close() {
    closed = true;
    printer.interrupt();
    sc.removeSparkListener(this);
    print(true);
  }
}
