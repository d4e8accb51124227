package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.MotoServer;
import io.shoal.hadoop.contract.ShoalFsContract;
import java.io.IOException;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;

/**
 * Shoal for Hadoop's FileSystem contract suites over a real S3 server: one mount at {@code /} of
 * {@code s3://contract/root} on the {@link MotoServer} of the suite (each suite class holds one as
 * a {@code @ClassRule}, so every suite, the root-directory one included, has a store of its own
 * that is thrown away after it). {@code contract/shoal-s3.xml} says what Shoal supports over S3.
 *
 * <p>moto, not s3s-fs: s3s-fs stores a directory marker ({@code dir/}) as a directory on its disk
 * that it neither lists nor answers a HEAD for, so empty directories cannot exist on it.
 */
public class ShoalS3Contract extends ShoalFsContract {
  public static final String CONTRACT_XML = "contract/shoal-s3.xml";
  private static final String BUCKET = "contract";

  private final MotoServer server;

  public ShoalS3Contract(Configuration conf, MotoServer server) {
    super(conf, CONTRACT_XML);
    this.server = server;
  }

  @Override
  public void init() throws IOException {
    super.init();
    Configuration conf = getConf();
    server.createBucket(BUCKET);
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
}
