package io.shoal.hadoop;

import java.io.File;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.util.Arrays;
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
  private ServerProcess server;

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
    String bin = ServerProcess.program(BIN_PROPERTY, "S3 test server moto_server");
    tmp.create();
    server = new ServerProcess("moto_server", new File(tmp.getRoot(), "moto.log"));
    server.start(port -> Arrays.asList(bin, "-H", "127.0.0.1", "-p", Integer.toString(port)), 60);
  }

  /** Stops the server; everything in it is gone. */
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
    S3Server.mountS3(
        conf, name, path, "s3://" + bucketAndPrefix, endpoint(), ACCESS_KEY, SECRET_KEY, tmp);
    // A local server: a failure is a failure, not worth a long series of retries.
    conf.set("shoal.store.max.retries", "2");
    return conf;
  }
}
