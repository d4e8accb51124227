package io.shoal.hadoop;

import static org.junit.Assert.fail;

import java.io.File;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.junit.rules.ExternalResource;
import org.junit.rules.TemporaryFolder;

/**
 * moto's S3 server ({@code moto_server}, from PyPI) for a test class, on 127.0.0.1 and a free port:
 * an in-memory, disposable S3 store that keeps keys ending in {@code /} as objects, as S3 does, so
 * directory markers work on it (unlike {@link S3Server}). Use as a {@code @ClassRule}.
 *
 * <p>The program comes from the system property {@code shoal.test.moto.bin} (the build sets it to
 * {@code .tools/moto/bin/moto_server}). A missing program fails the tests: it is never a reason to
 * skip.
 */
public final class MotoServer extends ExternalResource {
  public static final String BIN_PROPERTY = "shoal.test.moto.bin";

  /** moto takes any credentials; they only have to be there. */
  public static final String ACCESS_KEY = "shoal-moto";

  public static final String SECRET_KEY = "shoal-moto-secret";

  private final TemporaryFolder tmp = new TemporaryFolder();
  private Process process;
  private File log;
  private int port;

  @Override
  protected void before() throws Throwable {
    start();
  }

  @Override
  protected void after() {
    close();
  }

  /** Starts the server; fails if the program is missing. */
  public void start() throws IOException, InterruptedException {
    String bin = System.getProperty(BIN_PROPERTY);
    if (bin == null || bin.isEmpty() || !new File(bin).canExecute()) {
      fail(
          "the S3 test server moto_server is missing ("
              + BIN_PROPERTY
              + "="
              + bin
              + "); run scripts/setup.sh to install it");
    }
    tmp.create();
    log = new File(tmp.getRoot(), "moto.log");
    IOException last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      try (ServerSocket s = new ServerSocket(0)) {
        port = s.getLocalPort();
      }
      try {
        launch(bin);
        return;
      } catch (IOException e) {
        last = e;
        stop();
      }
    }
    throw last;
  }

  private void launch(String bin) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(bin, "-H", "127.0.0.1", "-p", Integer.toString(port));
    pb.redirectErrorStream(true);
    pb.redirectOutput(log);
    process = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("moto_server exited with " + process.exitValue() + ": " + logTail());
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    throw new IOException("moto_server did not listen on port " + port + " in 60s: " + logTail());
  }

  private String logTail() {
    try {
      List<String> lines = Files.readAllLines(log.toPath(), StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e + ")";
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

  /** Stops the server; everything in it is gone. */
  public void close() {
    stop();
    tmp.delete();
  }

  /** The endpoint, {@code http://127.0.0.1:<port>}. */
  public String endpoint() {
    return "http://127.0.0.1:" + port;
  }

  /** Creates bucket {@code name} (moto starts with none); one that exists is fine. */
  public void createBucket(String name) throws IOException {
    HttpURLConnection c = (HttpURLConnection) new URL(endpoint() + "/" + name).openConnection();
    c.setRequestMethod("PUT");
    c.setDoOutput(true);
    c.setFixedLengthStreamingMode(0);
    c.getOutputStream().close();
    int code = c.getResponseCode();
    c.disconnect();
    if (code != 200 && code != 409) {
      throw new IOException("create bucket " + name + " on moto: HTTP " + code);
    }
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
    // A local server: a failure is a failure, not worth a long series of retries.
    conf.set("shoal.store.max.retries", "2");
    // A node cache of the test's own, never the system default directory.
    conf.set("shoal.cache.dirs", new File(tmp.getRoot(), "cache").getAbsolutePath() + ":1g");
    return conf;
  }
}
