package io.shoal.hadoop;

import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
  private Process process;
  private File root;
  private File log;
  private int port;

  @Override
  protected void before() throws Throwable {
    start();
  }

  /** Starts the server (what the rule does before the class); fails if the binary is missing. */
  public void start() throws IOException, InterruptedException {
    String bin = System.getProperty(BIN_PROPERTY);
    if (bin == null || bin.isEmpty() || !new File(bin).canExecute()) {
      fail(
          "the S3 test server s3s-fs is missing ("
              + BIN_PROPERTY
              + "="
              + bin
              + "); run scripts/setup.sh to install it");
    }
    tmp.create();
    root = tmp.newFolder("s3root");
    log = new File(tmp.getRoot(), "s3s-fs.log");
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      port = freePort();
      try {
        start(bin);
        return;
      } catch (IOException e) {
        last = e;
        stop();
      }
    }
    throw last;
  }

  private void start(String bin) throws IOException, InterruptedException {
    ProcessBuilder pb =
        new ProcessBuilder(
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
    pb.redirectErrorStream(true);
    pb.redirectOutput(log);
    process = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("s3s-fs exited with " + process.exitValue() + ": " + logTail());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    throw new IOException("s3s-fs did not listen on port " + port + " within 30s: " + logTail());
  }

  private String logTail() {
    try {
      List<String> lines = Files.readAllLines(log.toPath(), StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    }
  }

  private void stop() {
    if (process != null) {
      process.destroy();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      process = null;
    }
  }

  @Override
  protected void after() {
    close();
  }

  /** Stops the server and deletes its data. */
  public void close() {
    stop();
    tmp.delete();
  }

  /** The endpoint, {@code http://127.0.0.1:<port>}. */
  public String endpoint() {
    return "http://127.0.0.1:" + port;
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
    String m = "shoal.mount." + name + ".";
    conf.set(m + "path", path);
    conf.set(m + "uri", "s3://" + bucketAndPrefix);
    conf.set(m + "option.aws_endpoint", endpoint());
    conf.set(m + "option.aws_access_key_id", ACCESS_KEY);
    conf.set(m + "option.aws_secret_access_key", SECRET_KEY);
    conf.set(m + "option.aws_region", "us-east-1");
    conf.set(m + "option.aws_allow_http", "true");
    // s3s-fs answers a HEAD of a key that is a directory on its disk with a 500, which the
    // client would retry several times for every directory status; one retry is plenty here.
    conf.set("shoal.store.max.retries", "1");
    // A node cache of the test's own, never the system default directory.
    conf.set("shoal.cache.dirs", new File(tmp.getRoot(), "cache").getAbsolutePath() + ":1g");
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
    conf.set("fs.s3a.endpoint", "127.0.0.1:" + port);
    conf.set("fs.s3a.connection.ssl.enabled", "false");
    conf.set("fs.s3a.path.style.access", "true");
    conf.set("fs.s3a.endpoint.region", "us-east-1");
    conf.set("shoal.store.max.retries", "1");
    conf.set("shoal.cache.dirs", new File(tmp.getRoot(), "cache").getAbsolutePath() + ":1g");
    return conf;
  }
}
