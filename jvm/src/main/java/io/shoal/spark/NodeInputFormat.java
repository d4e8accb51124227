package io.shoal.spark;

import io.shoal.jni.NativeFs;
import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
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
 * The input of the per-node jobs (free, stat): one split per host in {@value #HOSTS}, located on
 * that host, each yielding the {@link NodeReport} of running {@value #OP} over every file under
 * {@value #PATH} in the cache of the node the task ran on, {@value #BATCH} files per native call
 * (which works on several at once), each in the version the listing gives it. Spark only prefers
 * the location, so the report names the host that answered; the caller runs the hosts that did not
 * answer again.
 */
public final class NodeInputFormat extends InputFormat<Text, NodeReport> {
  /** Files one native call frees or asks about. */
  static final int BATCH = 1000;

  /** Comma-separated hosts, one task each; empty for one task anywhere. */
  public static final String HOSTS = "io.shoal.spark.node.hosts";

  /** {@code free} or {@code stat}. */
  public static final String OP = "io.shoal.spark.node.op";

  /** The path whose files the operation covers. */
  public static final String PATH = "io.shoal.spark.node.path";

  @Override
  public List<InputSplit> getSplits(JobContext context) {
    String hosts = context.getConfiguration().getTrimmed(HOSTS, "");
    List<InputSplit> out = new ArrayList<>();
    for (String h : hosts.split(",")) {
      if (!h.trim().isEmpty()) {
        out.add(new HostSplit(h.trim()));
      }
    }
    if (out.isEmpty()) {
      out.add(new HostSplit(""));
    }
    return out;
  }

  @Override
  public RecordReader<Text, NodeReport> createRecordReader(
      InputSplit split, TaskAttemptContext context) {
    return new Reader();
  }

  /** A split naming the one host it should run on (or none). */
  public static final class HostSplit extends InputSplit implements Writable {
    private String host = "";

    public HostSplit() {}

    HostSplit(String host) {
      this.host = host;
    }

    public String host() {
      return host;
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
    }

    @Override
    public void readFields(DataInput in) throws IOException {
      host = in.readUTF();
    }
  }

  /** Runs the operation over the path's files when the first record is asked for. */
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
      Path path = new Path(conf.get(PATH));
      NodeReport r = new NodeReport();
      r.target = split.host();
      r.host = NodeCache.localHost();
      RemoteIterator<LocatedFileStatus> it = path.getFileSystem(conf).listFiles(path, true);
      NativeFs.FileOp what = op.equals("free") ? NativeFs.FileOp.FREE : NativeFs.FileOp.CACHED;
      NativeFs fs = NodeCache.fs(conf);
      // Up to BATCH files at a time, each batch one native call working on several files at once.
      FileGroupSplit.Files batch = new FileGroupSplit.Files(BATCH);
      int n = 0;
      while (it.hasNext()) {
        FileStatus st = it.next();
        batch.paths[n] = st.getPath().toUri().getPath();
        batch.lengths[n] = st.getLen();
        batch.etags[n] = FileGroupSplit.etagOf(st);
        batch.versions[n] = FileGroupSplit.versionOf(st);
        n++;
        if (n == BATCH || !it.hasNext()) {
          run(fs, what, batch, n, r);
          n = 0;
        }
      }
      return r;
    }

    /** The operation on the first {@code n} files of {@code batch}, counted into {@code r}. */
    private static void run(
        NativeFs fs, NativeFs.FileOp what, FileGroupSplit.Files batch, int n, NodeReport r)
        throws IOException {
      String[] paths = Arrays.copyOf(batch.paths, n);
      long[] lengths = Arrays.copyOf(batch.lengths, n);
      fs.files(
          what,
          paths,
          lengths,
          Arrays.copyOf(batch.etags, n),
          Arrays.copyOf(batch.versions, n),
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
