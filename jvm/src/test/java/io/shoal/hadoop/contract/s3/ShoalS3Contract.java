package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.S3Server;
import java.io.IOException;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.contract.AbstractFSContract;

/**
 * Shoal for Hadoop's FileSystem contract suites over a real S3 server: one mount at {@code /} of
 * {@code s3://contract/root} on the {@link S3Server} of the suite (each suite class holds one as a
 * {@code @ClassRule}). {@code contract/shoal-s3.xml} says what Shoal supports over an object store.
 *
 * <p>Only the seek suite is bound so far. The others need an empty directory made by {@code mkdirs}
 * to persist on an object store (a directory marker object), which the core does not do yet; bind
 * them here (one short subclass each) once it does.
 */
public class ShoalS3Contract extends AbstractFSContract {
  public static final String CONTRACT_XML = "contract/shoal-s3.xml";
  private static final String BUCKET = "contract";

  private final S3Server server;
  private FileSystem fs;

  public ShoalS3Contract(Configuration conf, S3Server server) {
    super(conf);
    this.server = server;
    addConfResource(CONTRACT_XML);
  }

  @Override
  public void init() throws IOException {
    super.init();
    Configuration conf = getConf();
    server.bucket(BUCKET);
    server.mount(conf, "root", "/", BUCKET + "/root");
    // Not the cached instance the local-directory contract uses: a different mount table.
    fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
  }

  @Override
  public void teardown() throws IOException {
    if (fs != null) {
      fs.close();
    }
    super.teardown();
  }

  @Override
  public FileSystem getTestFileSystem() {
    return fs;
  }

  @Override
  public String getScheme() {
    return "shoal";
  }

  @Override
  public Path getTestPath() {
    return new Path("/test");
  }
}
