package io.shoal.hadoop;

import java.io.File;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * A real S3 server for a test class: {@code s3s-fs} (the Rust s3s project's filesystem-backed
 * server) on 127.0.0.1 and a free port, serving a temporary root directory in which each
 * subdirectory is a bucket. Use as a {@code @ClassRule}, or {@link #start()} and {@link #close()}.
 *
 * <p>The binary comes from the system property {@code shoal.test.s3s.bin} (the build sets it to
 * {@code .tools/s3s/bin/s3s-fs}). A missing binary fails the tests: it is never a reason to skip.
 */
public final class S3Server extends S3TestServer {
  public static final String BIN_PROPERTY = "shoal.test.s3s.bin";
  public static final String ACCESS_KEY = "shoal-test-access";
  public static final String SECRET_KEY = "shoal-test-secret";

  private File root;

  public S3Server() {
    super("s3s-fs", BIN_PROPERTY, 30);
  }

  @Override
  protected void prepare() throws IOException {
    root = tmp.newFolder("s3root");
  }

  @Override
  protected List<String> command(String bin, int port) {
    return Arrays.asList(
        bin,
        "--host",
        "127.0.0.1",
        "--port",
        Integer.toString(port),
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
        root.getAbsolutePath());
  }

  /** The directory that holds bucket {@code name} (created if missing). */
  public File bucket(String name) {
    File b = new File(root, name);
    if (!b.isDirectory() && !b.mkdirs()) {
      throw new IllegalStateException("cannot create bucket directory " + b);
    }
    return b;
  }

  /** Adds a mount of {@code s3://bucket/prefix} at {@code path} with this server's settings. */
  public Configuration mount(Configuration conf, String name, String path, String bucketAndPrefix) {
    mountS3(conf, name, path, "s3://" + bucketAndPrefix, endpoint(), ACCESS_KEY, SECRET_KEY, tmp);
    // s3s-fs answers a HEAD of a key that is a directory on its disk with a 500, which the
    // client would retry several times for every directory status; one retry is plenty here.
    conf.set("shoal.store.max.retries", "1");
    return conf;
  }

  /**
   * Adds a mount of {@code s3a://bucket/prefix} at {@code path} with no store option: the server's
   * address and credentials are Hadoop S3A keys, as a cluster set up for S3A has them (the endpoint
   * without a scheme, SSL off, path-style requests).
   */
  public Configuration mountS3a(
      Configuration conf, String name, String path, String bucketAndPrefix) {
    String m = "shoal.mount." + name + ".";
    conf.set(m + "path", path);
    conf.set(m + "uri", "s3a://" + bucketAndPrefix);
    conf.set("fs.s3a.access.key", ACCESS_KEY);
    conf.set("fs.s3a.secret.key", SECRET_KEY);
    conf.set("fs.s3a.endpoint", "127.0.0.1:" + server.port());
    conf.set("fs.s3a.connection.ssl.enabled", "false");
    conf.set("fs.s3a.path.style.access", "true");
    conf.set("fs.s3a.endpoint.region", "us-east-1");
    conf.set("shoal.store.max.retries", "1");
    conf.set("shoal.cache.dirs", new File(tmp.getRoot(), "cache").getAbsolutePath() + ":1g");
    return conf;
  }
}
