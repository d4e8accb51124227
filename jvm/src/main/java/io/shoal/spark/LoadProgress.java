package io.shoal.spark;

import io.shoal.conf.Sizes;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.util.Iterator;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.LongAccumulator;

/**
 * The driver's progress bar for a distributed load, on stderr: files and bytes done (accumulators
 * the tasks add to as each file finishes: those of finished tasks, plus what running tasks have
 * reported with their executors' heartbeats, every {@code spark.executor.heartbeatInterval}),
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
  private final LongAccumulator filesDone;
  private final LongAccumulator bytesDone;
  private final Set<Integer> stages = ConcurrentHashMap.newKeySet();
  private final ProgressCount count = new ProgressCount();
  private final PrintStream out = System.err;
  private final boolean terminal = System.console() != null;
  private final long startNanos = System.nanoTime();
  private final Thread printer;
  private volatile boolean closed;
  private volatile boolean heartbeatsReadable = true;

  LoadProgress(
      SparkContext sc,
      String group,
      String label,
      long totalFiles,
      long totalBytes,
      LongAccumulator filesDone,
      LongAccumulator bytesDone) {
    this.sc = sc;
    this.group = group;
    this.label = label;
    this.totalFiles = totalFiles;
    this.totalBytes = totalBytes;
    this.filesDone = filesDone;
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
    if (stages.contains(event.stageId())) {
      count.ended(event.taskInfo().taskId());
    }
  }

  /**
   * A heartbeat's accumulator values of running tasks. Read by reflection: the event's {@code
   * accumUpdates} is a Scala collection whose type differs between Scala 2.12 (Spark 3) and 2.13
   * (Spark 4). Where it cannot be read, progress moves per finished task only.
   */
  @Override
  public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate event) {
    if (!heartbeatsReadable || stages.isEmpty()) {
      return;
    }
    try {
      Iterator<Object> tasks = Scala.iterate(Scala.call(event, "accumUpdates"));
      while (tasks.hasNext()) {
        Object t = tasks.next();
        if (!stages.contains((Integer) Scala.call(t, "_2"))) {
          continue;
        }
        long files = 0;
        long bytes = 0;
        Iterator<Object> infos = Scala.iterate(Scala.call(t, "_4"));
        while (infos.hasNext()) {
          Object info = infos.next();
          long id = (Long) Scala.call(info, "id");
          Object update = Scala.call(info, "update");
          if (!(Boolean) Scala.call(update, "isDefined")) {
            continue;
          }
          Object v = Scala.call(update, "get");
          if (v instanceof Long && id == filesDone.id()) {
            files = (Long) v;
          } else if (v instanceof Long && id == bytesDone.id()) {
            bytes = (Long) v;
          }
        }
        count.running((Long) Scala.call(t, "_1"), files, bytes);
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      heartbeatsReadable = false;
    }
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
    long[] done = count.done(filesDone.value(), bytesDone.value());
    long files = Math.min(done[0], totalFiles);
    long bytes = Math.min(done[1], totalBytes);
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

  /** Reads Scala values by reflection, alike on Scala 2.12 and 2.13. */
  static final class Scala {
    private Scala() {}

    /** Calls a public no-argument method. */
    static Object call(Object target, String method) throws ReflectiveOperationException {
      Method m = target.getClass().getMethod(method);
      m.setAccessible(true);
      return m.invoke(target);
    }

    /** The elements of a Scala collection. */
    static Iterator<Object> iterate(Object collection) throws ReflectiveOperationException {
      Object it = call(collection, "iterator");
      Method hasNext = it.getClass().getMethod("hasNext");
      Method next = it.getClass().getMethod("next");
      hasNext.setAccessible(true);
      next.setAccessible(true);
      return new Iterator<Object>() {
        @Override
        public boolean hasNext() {
          try {
            return (Boolean) hasNext.invoke(it);
          } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
          }
        }

        @Override
        public Object next() {
          try {
            return next.invoke(it);
          } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
          }
        }
      };
    }
  }
}
