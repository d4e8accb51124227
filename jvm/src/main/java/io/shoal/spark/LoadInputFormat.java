package io.shoal.spark;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.JobContext;
import org.apache.hadoop.mapreduce.RecordReader;
import org.apache.hadoop.mapreduce.TaskAttemptContext;
import org.apache.hadoop.mapreduce.lib.input.FileInputFormat;
import org.apache.hadoop.mapreduce.lib.input.FileSplit;

/**
 * The input of the distributed load: one split per file under the input paths (hidden files
 * included; nothing is split), located on the file's owner host as {@code getFileBlockLocations}
 * reports it, so Spark runs each load where the file belongs. Each split yields one record, the
 * {@link FileLoad} of loading the file into the cache of the node the task ran on; a file that
 * cannot be loaded yields a record with its error rather than failing the task.
 */
public final class LoadInputFormat extends FileInputFormat<Text, FileLoad> {
  /** When true, each task loads only its file's Parquet footer ({@code load --footers}). */
  static final String FOOTERS = "io.shoal.spark.load.footers";

  @Override
  protected boolean isSplitable(JobContext context, Path file) {
    return false;
  }

  /** Every file under the input paths, recursively, with its block locations. */
  @Override
  protected List<FileStatus> listStatus(JobContext job) throws IOException {
    List<FileStatus> out = new ArrayList<>();
    Configuration conf = job.getConfiguration();
    for (Path p : getInputPaths(job)) {
      FileSystem fs = p.getFileSystem(conf);
      RemoteIterator<LocatedFileStatus> it = fs.listFiles(p, true);
      while (it.hasNext()) {
        out.add(it.next());
      }
    }
    return out;
  }

  @Override
  public RecordReader<Text, FileLoad> createRecordReader(
      InputSplit split, TaskAttemptContext context) {
    return new Reader();
  }

  /** Loads the split's file when the first record is asked for. */
  static final class Reader extends OneRecordReader<FileSplit, FileLoad> {
    Reader() {
      super(FileSplit.class);
    }

    @Override
    FileLoad compute(FileSplit split, Configuration conf) {
      Path path = split.getPath();
      FileLoad r = new FileLoad(path.toString(), NodeCache.localHost(), split.getLength());
      long t0 = System.nanoTime();
      try {
        FileStatus st = path.getFileSystem(conf).getFileStatus(path);
        r.length = st.getLen();
        long[] done =
            conf.getBoolean(FOOTERS, false)
                ? NodeCache.loadFooter(conf, st)
                : NodeCache.load(conf, st);
        r.cachedBefore = done[0];
        r.fetched = done[1];
      } catch (IOException | RuntimeException e) {
        r.error = e.toString();
      }
      r.millis = (System.nanoTime() - t0) / 1_000_000L;
      return r;
    }

    @Override
    String keyOf(FileLoad value) {
      return value.path;
    }
  }
}
