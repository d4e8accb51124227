package io.shoal.hadoop.contract;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;

/**
 * Shoal for Hadoop's FileSystem contract suites: one local-directory mount at {@code /} over a
 * fresh temporary directory per JVM, and {@code contract/shoal.xml} saying what Shoal supports.
 */
public class ShoalContract extends ShoalFsContract {
  public static final String CONTRACT_XML = "contract/shoal.xml";

  private static File root;

  public ShoalContract(Configuration conf) {
    super(conf, CONTRACT_XML);
  }

  private static synchronized File root() throws IOException {
    if (root == null) {
      root = Files.createTempDirectory("shoal-contract-").toFile();
      root.deleteOnExit();
    }
    return root;
  }

  @Override
  public void init() throws IOException {
    super.init();
    Configuration conf = getConf();
    conf.set("shoal.mount.root.path", "/");
    conf.set("shoal.mount.root.uri", "file://" + root().getAbsolutePath());
    fs = FileSystem.get(URI.create("shoal:///"), conf);
  }
}
