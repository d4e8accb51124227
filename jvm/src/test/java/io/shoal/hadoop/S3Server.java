package io.shoal.hadoop;

import java.io.File;
import java.io.IOException;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.junit.rules.ExternalResource;
import org.junit.rules.TemporaryFolder;

/**
 * A real S3 server for a test class: {@code s3s-fs} (the Rust s3s project's filesystem-backed
 * server) on 127.0.0.1 and a free port, serving a temporary root directory in which each
 * subdirectory is a bucket. Use as a {@code @ClassRule}, or {@link #start()} and {@link #close()}.
 *
 * <p>The binary comes from the system property {@code shoal.test.s3s.bin} (the build sets it to
 * {@code .tools/s3s/bin/s3s-fs}). A missing binary fails the tests: it is never a reason to skip.
 */
public final class S3Server extends ExternalResource {
  public static final String BIN_PROPERTY = "shoal.test.s3s.bin";
  public static final String ACCESS_KEY = "shoal-test-access";
  public static final String SECRET_KEY = "shoal-test-secret";

  private final TemporaryFolder tmp = new TemporaryFolder();
  private ServerProcess server;
  private File root;

  @Override
  protected void before() throws Throwable {
    start();
  }

  /** Starts the server (what the rule does before the class); fails if the binary is missing. */
  public void start() throws IOException, InterruptedException {
    String bin = ServerProcess.program(BIN_PROPERTY, "S3 test server s3s-fs");
    tmp.create();
    root = tmp.newFolder("s3root");
    server = new ServerProcess("s3s-fs", new File(tmp.getRoot(), "s3s-fs.log"));
    server.start(
        port ->
            Arrays.asList(
                bin,
                "--host",
                "127.0.0.1",
                "--port",
                Integer.toString(port),
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
                root.getAbsolutePath()),
        30);
  }

  @Override
  protected void after() {
    close();
  }

  /** Stops the server and deletes its data. */
  public void close() {
    if (server != null) {
      server.stop();
    }
    tmp.delete();
  }

  /** The endpoint, {@code http://127.0.0.1:<port>}. */
  public String endpoint() {
    return "http://127.0.0.1:" + server.port();
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
   * Adds a mount of {@code uri} at {@code path} over the S3 server at {@code endpoint} (plain HTTP,
   * {@code us-east-1}) with these credentials, and a node cache in {@code tmp}, never the system
   * default directory.
   */
  static void mountS3(
      Configuration conf,
      String name,
      String path,
      String uri,
      String endpoint,
      String accessKey,
      String secretKey,
      TemporaryFolder tmp) {
    String m = "shoal.mount." + name + ".";
    conf.set(m + "path", path);
    conf.set(m + "uri", uri);
    conf.set(m + "option.aws_endpoint", endpoint);
    conf.set(m + "option.aws_access_key_id", accessKey);
    conf.set(m + "option.aws_secret_access_key", secretKey);
    conf.set(m + "option.aws_region", "us-east-1");
    conf.set(m + "option.aws_allow_http", "true");
    conf.set("shoal.cache.dirs", new File(tmp.getRoot(), "cache").getAbsolutePath() + ":1g");
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
