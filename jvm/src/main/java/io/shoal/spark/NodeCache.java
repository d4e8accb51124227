package io.shoal.spark;

import io.shoal.hadoop.SchemeRegistration;
import io.shoal.hadoop.ShoalFileStatus;
import io.shoal.hadoop.ShoalFileSystem;
import io.shoal.jni.NativeFs;
import java.io.IOException;
import java.net.InetAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import scala.Tuple2;

/**
 * This node's cache of Shoal files, as the distributed jobs see it: load a file into it, free a
 * file from it, ask how much of a file it holds. The cache is the one every Shoal filesystem of
 * this process shares (the same {@code shoal.cache.*} settings name the same cache); the native
 * filesystem these operations go through is opened once per configuration and kept for the life of
 * the process.
 */
final class NodeCache {
  private NodeCache() {}

  private static final Map<Map<String, String>, NativeFs> FILESYSTEMS = new ConcurrentHashMap<>();

  /**
   * The native filesystem of a configuration's {@code shoal.*} (and {@code fs.s3a.*}) keys, opened
   * on first use.
   */
  static NativeFs fs(Configuration conf) throws IOException {
    Map<String, String> config = ShoalFileSystem.nativeConfig(conf);
    NativeFs fs = FILESYSTEMS.get(config);
    if (fs == null || fs.isClosed()) {
      synchronized (FILESYSTEMS) {
        fs = FILESYSTEMS.get(config);
        if (fs == null || fs.isClosed()) {
          fs = NativeFs.open(config);
          FILESYSTEMS.put(config, fs);
        }
      }
    }
    return fs;
  }

  /** The Hadoop configuration Spark gives tasks, as far as {@code spark.hadoop.*} makes it. */
  static Configuration hadoopConf(SparkConf sparkConf) {
    Configuration conf = new Configuration();
    for (Tuple2<String, String> kv : sparkConf.getAllWithPrefix("spark.hadoop.")) {
      conf.set(kv._1(), kv._2());
    }
    return conf;
  }

  /** Checks that a path is on a Shoal filesystem and returns it qualified. */
  static Path shoalPath(String path, Configuration conf) throws IOException {
    // Callers (ShoalTool, PySpark) may run before anything registered the schemes.
    SchemeRegistration.install();
    Path p = new Path(path);
    FileSystem fs = p.getFileSystem(conf);
    if (!(fs instanceof ShoalFileSystem)) {
      throw new IllegalArgumentException(
          path + " is not a Shoal path (shoal:// or alluxio://): its filesystem is " + fs);
    }
    return fs.makeQualified(p);
  }

  /** What a native per-file call does with one version of a file. */
  private interface FileOp {
    long apply(NativeFs fs, String path, long length, String etag, String version)
        throws IOException;
  }

  /**
   * {@code op} on the file as {@code FileSystem.open} would open it: the version the store's
   * metadata (HEAD) reports, through the native metadata cache.
   */
  private static long current(Configuration conf, FileStatus st, FileOp op) throws IOException {
    return op.apply(fs(conf), st.getPath().toUri().getPath(), -1, null, null);
  }

  /**
   * {@code op} on the version a listing reported, when the status carries one: some stores (s3s-fs,
   * some S3-compatible ones) list no ETag but answer HEAD with one, and a reader opened with a
   * listed status ({@code openFile().withFileStatus()}) keys its pages by the listed version. -1
   * when the status has no version.
   */
  private static long listed(Configuration conf, FileStatus st, FileOp op) throws IOException {
    if (st instanceof ShoalFileStatus && ((ShoalFileStatus) st).getVersion() != null) {
      ShoalFileStatus s = (ShoalFileStatus) st;
      return op.apply(
          fs(conf), st.getPath().toUri().getPath(), s.getLen(), s.getEtag(), s.getVersion());
    }
    return -1;
  }

  /** Loads a file: {@code [bytes cached before, bytes fetched from the store]}. */
  static long[] load(Configuration conf, FileStatus st) throws IOException {
    long before = current(conf, st, NativeFs::cachedBytes);
    long fetched = before >= st.getLen() ? 0 : current(conf, st, NativeFs::load);
    return new long[] {before, fetched};
  }

  /**
   * Loads a Parquet file's footer only: {@code [bytes cached before, bytes fetched from the
   * store]}.
   */
  static long[] loadFooter(Configuration conf, FileStatus st) throws IOException {
    long before = current(conf, st, NativeFs::cachedBytes);
    return new long[] {before, current(conf, st, NativeFs::loadFooter)};
  }

  /**
   * Frees a file from this node (pages under its current and its listed version): {@code [bytes
   * cached before, bytes freed on disk]}.
   */
  static long[] free(Configuration conf, FileStatus st) throws IOException {
    long before = current(conf, st, NativeFs::cachedBytes);
    long freed = current(conf, st, NativeFs::free);
    before = Math.max(before, listed(conf, st, NativeFs::cachedBytes));
    freed += Math.max(0, listed(conf, st, NativeFs::free));
    return new long[] {before, freed};
  }

  /** Bytes of a file this node holds (under its current or its listed version). */
  static long cachedBytes(Configuration conf, FileStatus st) throws IOException {
    return Math.max(
        current(conf, st, NativeFs::cachedBytes), listed(conf, st, NativeFs::cachedBytes));
  }

  /**
   * The name Spark's scheduler knows this executor's host by (its block manager's host, the same as
   * {@code ExecutorInfo.executorHost}); outside Spark, the local host name.
   */
  static String localHost() {
    try {
      SparkEnv env = SparkEnv.get();
      if (env != null) {
        return env.blockManager().blockManagerId().host();
      }
    } catch (LinkageError | RuntimeException notInSpark) {
      // JUnit, or a Spark without a block manager yet.
    }
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }
}
