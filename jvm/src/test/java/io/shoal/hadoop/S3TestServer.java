package io.shoal.hadoop;

import java.io.File;
import java.io.IOException;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.rules.ExternalResource;
import org.junit.rules.TemporaryFolder;

/**
 * What {@link S3Server} and {@link MotoServer} share: an S3 server program for a test class, on
 * 127.0.0.1 and a free port, with a temporary folder for its log, its data and the node cache of
 * the mounts made on it. Use as a {@code @ClassRule}, or {@link #start()} and {@link #close()}.
 */
abstract class S3TestServer extends ExternalResource {
  protected final TemporaryFolder tmp = new TemporaryFolder();
  protected ServerProcess server;

  private final String name;
  private final String binProperty;
  private final int startSeconds;

  /**
   * The program {@code name}, whose path the system property {@code binProperty} gives (the build
   * sets it), given {@code startSeconds} to answer.
   */
  S3TestServer(String name, String binProperty, int startSeconds) {
    this.name = name;
    this.binProperty = binProperty;
    this.startSeconds = startSeconds;
  }

  /** The program's command line for a port. */
  protected abstract List<String> command(String bin, int port);

  /** Makes what the program serves, once the temporary folder exists. */
  protected void prepare() throws IOException {}

  @Override
  protected void before() throws Throwable {
    start();
  }

  @Override
  protected void after() {
    close();
  }

  /**
   * Starts the server (what the rule does before the class), logging to {@code <name>.log} in the
   * temporary folder. A missing program fails the tests: it is never a reason to skip.
   */
  public void start() throws IOException, InterruptedException {
    String bin = ServerProcess.program(binProperty, "S3 test server " + name);
    tmp.create();
    prepare();
    server = new ServerProcess(name, new File(tmp.getRoot(), name + ".log"));
    server.start(port -> command(bin, port), startSeconds);
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
}
