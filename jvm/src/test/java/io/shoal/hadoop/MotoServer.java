package io.shoal.hadoop;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.URL;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * moto's S3 server ({@code moto_server}, from PyPI) for a test class, on 127.0.0.1 and a free port:
 * an in-memory, disposable S3 store that keeps keys ending in {@code /} as objects, as S3 does, so
 * directory markers work on it (unlike {@link S3Server}). Use as a {@code @ClassRule}.
 *
 * <p>The program comes from the system property {@code shoal.test.moto.bin} (the build sets it to
 * {@code .tools/moto/bin/moto_server}). A missing program fails the tests: it is never a reason to
 * skip.
 */
public final class MotoServer extends S3TestServer {
  public static final String BIN_PROPERTY = "shoal.test.moto.bin";

  /** moto takes any credentials; they only have to be there. */
  public static final String ACCESS_KEY = "shoal-moto";

  public static final String SECRET_KEY = "shoal-moto-secret";

  public MotoServer() {
    super("moto_server", BIN_PROPERTY, 60);
  }

  @Override
  protected List<String> command(String bin, int port) {
    return Arrays.asList(bin, "-H", "127.0.0.1", "-p", Integer.toString(port));
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
    mountS3(conf, name, path, "s3://" + bucketAndPrefix, endpoint(), ACCESS_KEY, SECRET_KEY, tmp);
    // A local server: a failure is a failure, not worth a long series of retries.
    conf.set("shoal.store.max.retries", "2");
    return conf;
  }
}
