package io.shoal.spark;

import io.shoal.jni.NativeFs;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
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
 * <p>{@link ShoalTool} plans the tasks while it lists (one listing) and hands the plan over under
 * {@value #PLAN}; otherwise the input paths ({@code FileInputFormat.INPUT_DIR}) are listed here.
 */
public final class LoadInputFormat extends InputFormat<Text, FileLoad> {
  /** When true, each task loads only its files' Parquet footers ({@code load --footers}). */
  static final String FOOTERS = "io.shoal.spark.load.footers";

  /** The id of a plan made by {@link #plan} in this JVM (the driver). */
  static final String PLAN = "io.shoal.spark.load.plan";

  private static final Map<String, List<InputSplit>> PLANS = new ConcurrentHashMap<>();

  /** Makes a plan's tasks the splits of jobs whose configuration names {@code id}. */
  static void offer(String id, List<InputSplit> splits) {
    PLANS.put(id, splits);
  }

  /** Forgets a plan once its job is over. */
  static void withdraw(String id) {
    PLANS.remove(id);
  }

  @Override
  public List<InputSplit> getSplits(JobContext job) throws IOException {
    Configuration conf = job.getConfiguration();
    String id = conf.get(PLAN);
    if (id != null) {
      List<InputSplit> planned = PLANS.get(id);
      if (planned == null) {
        throw new IOException("no load plan " + id + " in this JVM");
      }
      return planned;
    }
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
   * asked for, and yields each file's record as the native call reports it finished.
   */
  static final class Reader extends RecordReader<Text, FileLoad> {
    private FileGroupSplit split;
    private Configuration conf;
    private BlockingQueue<FileLoad> finished;
    private int returned;
    private Text key;
    private FileLoad value;

    @Override
    public void initialize(InputSplit split, TaskAttemptContext context) {
      this.split = (FileGroupSplit) split;
      this.conf = context.getConfiguration();
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
        value = finished.take();
      } catch (InterruptedException e) {
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

    @Override
    public void close() {}
  }
}
