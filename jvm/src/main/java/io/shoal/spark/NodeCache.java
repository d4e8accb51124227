package io.shoal.spark;

import io.shoal.hadoop.SchemeRegistration;
import io.shoal.hadoop.ShoalFileSystem;
import io.shoal.jni.NativeFs;
import java.io.IOException;
import java.net.InetAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import scala.Tuple2;

/**
 * This node's cache of Shoal files, as the distributed jobs see it: the native filesystem their
 * tasks load files into, free them from and ask what it holds ({@code NativeFs.files}). The cache
 * is the one every Shoal filesystem of this process shares (the same {@code shoal.cache.*} settings
 * name the same cache); the native filesystem is opened once per configuration and kept for the
 * life of the process.
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
