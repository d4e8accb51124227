package io.shoal.spark;

import io.shoal.jni.NativeFs;
import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.BooleanSupplier;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.io.Writable;
import org.apache.hadoop.mapreduce.InputFormat;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.JobContext;
import org.apache.hadoop.mapreduce.RecordReader;
import org.apache.hadoop.mapreduce.TaskAttemptContext;

/**
 * The input of the per-node jobs (free, stat). The driver lists {@value #PATH} once ({@link
 * #groups}: streamed into groups of at most {@value #TASK_FILES} files, each packed as its Shoal
 * path, length, ETag and version, as the load's tasks are) and every host in {@value #HOSTS} gets
 * every group: one split per (host, group), located on that host, each yielding the {@link
 * NodeReport} of running {@value #OP} over the group's files in the cache of the node the task ran
 * on, {@value #BATCH} files per native call (which works on several at once), each in the version
 * the listing gave it. Every host gets every file because any executor may hold pages of any file:
 * {@code load} places a file on its owner, but a Spark task reads (and prefetches, and caches) a
 * file wherever the scheduler ran it. Spark only prefers the location, so the report names the host
 * that answered; the caller runs the (host, group) pairs that did not answer again.
 *
 * <p>{@link ShoalTool} makes the splits while it lists and hands them over under {@value #PLAN};
 * otherwise {@link #getSplits} lists {@value #PATH} here.
 */
public final class NodeInputFormat extends InputFormat<Text, NodeReport> {
  /** Files one native call frees or asks about. */
  static final int BATCH = 1000;

  /** Files one task covers at most (10,000: local disk work, quick per file). */
  static final String TASK_FILES = "io.shoal.spark.node.task.files";

  static final int DEFAULT_TASK_FILES = 10_000;

  /** Comma-separated hosts, each asked about every file; empty for one task per group anywhere. */
  public static final String HOSTS = "io.shoal.spark.node.hosts";

  /** {@code free} or {@code stat}. */
  public static final String OP = "io.shoal.spark.node.op";

  /** The path whose files the operation covers. */
  public static final String PATH = "io.shoal.spark.node.path";

  /** The id of splits made by the driver in this JVM ({@link #PLANS}). */
  static final String PLAN = "io.shoal.spark.node.plan";

  /** The splits {@link ShoalTool} made in this JVM. */
  static final PlannedSplits PLANS = new PlannedSplits(PLAN, "per-node plan");

  /**
   * Lists {@code path} once, streamed, into groups of at most {@value #TASK_FILES} files (empty
   * files included: stat counts them); no {@code FileStatus} is kept. Never empty: a path without
   * files is one empty group, so that every node still answers.
   */
  static List<FileGroupSplit> groups(Configuration conf, Path path) throws IOException {
    int max = Math.max(1, conf.getInt(TASK_FILES, DEFAULT_TASK_FILES));
    List<FileGroupSplit> out = new ArrayList<>();
    RemoteIterator<? extends FileStatus> it = path.getFileSystem(conf).listFiles(path, true);
    FileGroupSplit.Builder g = new FileGroupSplit.Builder("");
    while (it.hasNext()) {
      FileStatus st = it.next();
      if (!st.isFile()) {
        continue;
      }
      g.add(
          st.getPath().toUri().getPath(),
          st.getLen(),
          FileGroupSplit.etagOf(st),
          FileGroupSplit.versionOf(st));
      if (g.count() >= max) {
        out.add(g.build());
        g = new FileGroupSplit.Builder("");
      }
    }
    if (g.count() > 0 || out.isEmpty()) {
      out.add(g.build());
    }
    return out;
  }

  /** One split per host and group, hosts outermost; {@code hosts} empty: one per group. */
  static List<InputSplit> splits(List<String> hosts, List<FileGroupSplit> groups) {
    List<String> targets = hosts.isEmpty() ? Arrays.asList("") : hosts;
    List<InputSplit> out = new ArrayList<>(targets.size() * groups.size());
    for (String h : targets) {
      for (int g = 0; g < groups.size(); g++) {
        out.add(new HostSplit(h, g, groups.get(g)));
      }
    }
    return out;
  }

  @Override
  public List<InputSplit> getSplits(JobContext context) throws IOException {
    return PLANS.splits(context, NodeInputFormat::listSplits);
  }

  /** The splits of a job handed none: {@value #PATH} listed here, for {@value #HOSTS}. */
  private static List<InputSplit> listSplits(JobContext context) throws IOException {
    Configuration conf = context.getConfiguration();
    List<String> hosts = new ArrayList<>();
    for (String h : conf.getTrimmed(HOSTS, "").split(",")) {
      if (!h.trim().isEmpty()) {
        hosts.add(h.trim());
      }
    }
    return splits(hosts, groups(conf, new Path(conf.get(PATH))));
  }

  @Override
  public RecordReader<Text, NodeReport> createRecordReader(
      InputSplit split, TaskAttemptContext context) {
    return new Reader();
  }

  /** A group of files and the one host that should run the operation on them (or none). */
  public static final class HostSplit extends InputSplit implements Writable {
    private String host = "";
    private int group;
    private FileGroupSplit files = new FileGroupSplit();

    public HostSplit() {}

    HostSplit(String host, int group, FileGroupSplit files) {
      this.host = host;
      this.group = group;
      this.files = files;
    }

    public String host() {
      return host;
    }

    /** The group's index in the listing. */
    public int group() {
      return group;
    }

    FileGroupSplit files() {
      return files;
    }

    /** Not 0: Spark drops empty splits ({@code spark.hadoopRDD.ignoreEmptySplits}). */
    @Override
    public long getLength() {
      return 1;
    }

    @Override
    public String[] getLocations() {
      return host.isEmpty() ? new String[0] : new String[] {host};
    }

    @Override
    public void write(DataOutput out) throws IOException {
      out.writeUTF(host);
      out.writeInt(group);
      files.write(out);
    }

    @Override
    public void readFields(DataInput in) throws IOException {
      host = in.readUTF();
      group = in.readInt();
      files = new FileGroupSplit();
      files.readFields(in);
    }

    @Override
    public String toString() {
      return "HostSplit{group " + group + " on " + host + ": " + files + "}";
    }
  }

  /**
   * Runs the operation over the split's files when the first record is asked for; stops (and fails
   * the task) when Spark kills the task.
   */
  static final class Reader extends OneRecordReader<HostSplit, NodeReport> {
    Reader() {
      super(HostSplit.class);
    }

    @Override
    NodeReport compute(HostSplit split, Configuration conf) throws IOException {
      String op = conf.getTrimmed(OP, "").toLowerCase(Locale.ROOT);
      if (!op.equals("free") && !op.equals("stat")) {
        throw new IOException("unknown per-node operation '" + op + "' (" + OP + ")");
      }
      NodeReport r = new NodeReport();
      r.target = split.host();
      r.group = split.group();
      r.host = NodeCache.localHost();
      NativeFs.FileOp what = op.equals("free") ? NativeFs.FileOp.FREE : NativeFs.FileOp.CACHED;
      NativeFs fs = NodeCache.fs(conf);
      BooleanSupplier killed = SparkTask.killedFlag();
      FileGroupSplit.Files f = split.files().decode();
      // Up to BATCH files at a time, each batch one native call working on several files at once.
      for (int from = 0; from < f.paths.length; from += BATCH) {
        if (killed.getAsBoolean()) {
          throw new InterruptedIOException(op + " task killed after " + from + " files");
        }
        run(fs, what, f, from, Math.min(f.paths.length, from + BATCH), killed, r);
      }
      if (killed.getAsBoolean()) {
        throw new InterruptedIOException(op + " task killed");
      }
      return r;
    }

    /** The operation on files {@code [from, to)} of {@code f}, counted into {@code r}. */
    private static void run(
        NativeFs fs,
        NativeFs.FileOp what,
        FileGroupSplit.Files f,
        int from,
        int to,
        BooleanSupplier killed,
        NodeReport r)
        throws IOException {
      String[] paths = Arrays.copyOfRange(f.paths, from, to);
      long[] lengths = Arrays.copyOfRange(f.lengths, from, to);
      fs.files(
          what,
          paths,
          lengths,
          Arrays.copyOfRange(f.etags, from, to),
          Arrays.copyOfRange(f.versions, from, to),
          killed,
          (i, cached, freed, error) -> {
            r.files++;
            r.bytes += lengths[i];
            if (error != null) {
              r.error(paths[i], error);
              return;
            }
            r.cachedBytes += cached;
            r.freedBytes += freed;
            if (cached >= lengths[i]) {
              r.cachedFiles++;
            }
          });
    }

    @Override
    String keyOf(NodeReport value) {
      return value.host;
    }
  }
}
