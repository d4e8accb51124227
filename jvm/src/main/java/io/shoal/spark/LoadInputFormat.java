package io.shoal.spark;

import io.shoal.jni.NativeFs;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.InputFormat;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.JobContext;
import org.apache.hadoop.mapreduce.RecordReader;
import org.apache.hadoop.mapreduce.TaskAttemptContext;
import org.apache.hadoop.mapreduce.lib.input.FileInputFormat;

/**
 * The input of the distributed load: the files under the input paths (hidden files included),
 * grouped by owner host into tasks of at most {@value LoadPlan#TASK_FILES} files and {@value
 * LoadPlan#TASK_SIZE} bytes ({@link LoadPlan}), each located on its owner, so Spark runs each load
 * where its files belong. A task loads its whole group in one native call, {@code
 * shoal.load.parallel} page fetches in flight across the files, and yields one {@link FileLoad}
 * record per file as that file finishes; a file that cannot be loaded yields a record with its
 * error rather than failing the task.
 *
 * <p>A task that Spark kills (its job cancelled, a speculative copy that lost) stops its native
 * call: no further page is fetched once the kill is seen (within about 100 ms; the fetches in
 * flight finish, each page whole or not at all), and the task ends as killed. Closing the reader
 * (Spark does when the task ends, however it ends) stops the call too.
 *
 * <p>{@link ShoalTool} plans the tasks while it lists (one listing) and hands the plan over under
 * {@value #PLAN}; otherwise the input paths ({@code FileInputFormat.INPUT_DIR}) are listed here.
 */
public final class LoadInputFormat extends InputFormat<Text, FileLoad> {
  /** When true, each task loads only its files' Parquet footers ({@code load --footers}). */
  static final String FOOTERS = "io.shoal.spark.load.footers";

  /** The id of a plan made by {@link #plan} in this JVM (the driver). */
  static final String PLAN = "io.shoal.spark.load.plan";

  /** The plans {@link ShoalTool} made in this JVM, each its tasks. */
  static final PlannedSplits PLANS = new PlannedSplits(PLAN, "load plan");

  @Override
  public List<InputSplit> getSplits(JobContext job) throws IOException {
    return PLANS.splits(job, LoadInputFormat::listSplits);
  }

  /** The tasks of a job handed no plan: its input paths, listed here. */
  private static List<InputSplit> listSplits(JobContext job) throws IOException {
    Configuration conf = job.getConfiguration();
    LoadPlan plan = new LoadPlan(conf);
    for (Path p : FileInputFormat.getInputPaths(job)) {
      FileSystem fs = p.getFileSystem(conf);
      plan.addAll(fs.listFiles(p, true));
    }
    return plan.finish();
  }

  @Override
  public RecordReader<Text, FileLoad> createRecordReader(
      InputSplit split, TaskAttemptContext context) {
    return new Reader();
  }

  /**
   * Loads the split's files in one native call on a thread of its own when the first record is
   * asked for, and yields each file's record as the native call reports it finished. The task's
   * thread, waiting for records, looks at Spark's kill flag every {@value #KILL_POLL_MS} ms; once
   * it is set (or the thread is interrupted, or the reader closed) the native call is cancelled and
   * the wait ends with an {@link InterruptedIOException}, which Spark reports as the task killed.
   */
  static final class Reader extends RecordReader<Text, FileLoad> {
    static final long KILL_POLL_MS = 100;

    private FileGroupSplit split;
    private Configuration conf;
    private BlockingQueue<FileLoad> finished;
    private int returned;
    private Text key;
    private FileLoad value;

    /** Set to stop the native call (it asks every 20 ms). */
    private final AtomicBoolean cancel = new AtomicBoolean();

    /** Whether Spark killed the task: read from the task's thread and the native call's. */
    private BooleanSupplier killed = () -> false;

    @Override
    public void initialize(InputSplit split, TaskAttemptContext context) {
      this.split = (FileGroupSplit) split;
      this.conf = context.getConfiguration();
      // On the task's thread: its TaskContext.
      this.killed = SparkTask.killedFlag();
    }

    /** Tests: stands in for Spark's kill flag. */
    void killedBy(BooleanSupplier flag) {
      this.killed = flag;
    }

    /** Whether the native call should stop: the reader is closed or the task was killed. */
    private boolean cancelled() {
      return cancel.get() || killed.getAsBoolean();
    }

    @Override
    public boolean nextKeyValue() throws IOException {
      if (split == null || returned >= split.count()) {
        return false;
      }
      if (finished == null) {
        finished = new LinkedBlockingQueue<>();
        Thread t = new Thread(this::loadAll, "shoal-load-task");
        t.setDaemon(true);
        t.start();
      }
      try {
        value = null;
        while (value == null) {
          if (cancelled()) {
            cancel.set(true);
            throw new InterruptedIOException(
                "load task killed after " + returned + " of " + split.count() + " files");
          }
          value = finished.poll(KILL_POLL_MS, TimeUnit.MILLISECONDS);
        }
      } catch (InterruptedException e) {
        cancel.set(true);
        Thread.currentThread().interrupt();
        throw new InterruptedIOException("interrupted while loading " + split);
      }
      returned++;
      key = new Text(value.path);
      return true;
    }

    /** The native call; every file gets exactly one record, also when the call fails. */
    private void loadAll() {
      FileGroupSplit.Files f = split.decode();
      String host = NodeCache.localHost();
      boolean[] reported = new boolean[f.paths.length];
      long[] started = {System.nanoTime()};
      NativeFs.FileOp op =
          conf.getBoolean(FOOTERS, false) ? NativeFs.FileOp.LOAD_FOOTERS : NativeFs.FileOp.LOAD;
      try {
        NodeCache.fs(conf)
            .files(
                op,
                f.paths,
                f.lengths,
                f.etags,
                f.versions,
                this::cancelled,
                (i, before, fetched, error) -> {
                  FileLoad r = new FileLoad(f.paths[i], host, f.lengths[i]);
                  r.cachedBefore = before;
                  r.fetched = fetched;
                  r.error = error == null ? null : error.toString();
                  r.millis = (System.nanoTime() - started[0]) / 1_000_000L;
                  reported[i] = true;
                  finished.add(r);
                });
      } catch (Throwable e) {
        // Also an Error: the task's reader waits for one record per file.
        for (int i = 0; i < reported.length; i++) {
          if (!reported[i]) {
            FileLoad r = new FileLoad(f.paths[i], host, f.lengths[i]);
            r.error = e.toString();
            finished.add(r);
          }
        }
      }
    }

    @Override
    public Text getCurrentKey() {
      return key;
    }

    @Override
    public FileLoad getCurrentValue() {
      return value;
    }

    @Override
    public float getProgress() {
      return split == null || split.count() == 0 ? 1 : (float) returned / split.count();
    }

    /** Stops the native call if it is still running (Spark closes the reader as the task ends). */
    @Override
    public void close() {
      cancel.set(true);
    }
  }
}
