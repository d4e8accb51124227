// An HDFS for Shoal's tests: Hadoop's own MiniDFSCluster (one NameNode, one DataNode) on
// 127.0.0.1 only. Started by shoal_testkit::HdfsCluster (native/testkit/src/hdfs.rs) as
//
//   java -cp '.tools/hdfs/lib/*' native/testkit/java/MiniDfs.java <work dir>
//
// (Java's single-file source launcher: nothing to compile.) When the cluster is up it prints one
// line `SHOAL_MINIDFS_PORT=<NameNode RPC port>` on stdout; it shuts down when its standard input
// closes (so it never outlives the process that started it), and then deletes its work dir; or
// on SIGTERM/SIGINT. Hadoop's log goes to stderr at WARN (see log4j.properties beside this file).

import java.io.File;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public class MiniDfs {
  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: MiniDfs <work dir>");
      System.exit(2);
    }
    File work = new File(args[0]);
    File base = new File(work, "dfs");
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.getAbsolutePath());
    // Every server socket on loopback, on a free port.
    conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
    conf.set("dfs.namenode.http-address", "127.0.0.1:0");
    conf.set("dfs.namenode.https-address", "127.0.0.1:0");
    conf.set("dfs.datanode.address", "127.0.0.1:0");
    conf.set("dfs.datanode.http.address", "127.0.0.1:0");
    conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
    conf.set("dfs.datanode.hostname", "127.0.0.1");
    // Small blocks (the smallest the NameNode allows), so tests cross block boundaries.
    conf.setLong("dfs.blocksize", 1L << 20);
    conf.setInt("dfs.replication", 1);
    conf.setBoolean("dfs.permissions.enabled", true);

    final MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, base)
        .numDataNodes(1)
        .nameNodePort(0)
        .format(true)
        .build();
    cluster.waitActive();
    cluster.waitClusterUp();

    // On a signal the JVM is going anyway: Hadoop's own shutdown hooks stop what they can.
    System.out.println("SHOAL_MINIDFS_PORT=" + cluster.getNameNodePort());
    System.out.flush();

    // Until the parent closes our stdin (or exits, which closes it too).
    InputStream in = System.in;
    byte[] buf = new byte[256];
    while (in.read(buf) >= 0) {
      // nothing to read; anything written is ignored
    }
    stop(cluster);
    // The parent may be gone (that is how stdin closed): nobody else will clean up.
    try (Stream<Path> all = Files.walk(work.toPath())) {
      all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (Exception e) {
      System.err.println("MiniDfs: cannot delete " + work + ": " + e);
    }
    System.exit(0);
  }

  private static void stop(MiniDFSCluster cluster) {
    // A shutdown that hangs must not keep the JVM (and its ports) alive.
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep(20_000);
      } catch (InterruptedException e) {
        return;
      }
      Runtime.getRuntime().halt(1);
    }, "minidfs-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    try {
      cluster.shutdown(true);
    } catch (Throwable t) {
      System.err.println("MiniDfs: shutdown failed: " + t);
    }
  }
}
