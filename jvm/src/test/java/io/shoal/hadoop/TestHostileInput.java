package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.mountLocal;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Hostile input through the Hadoop API: a store that accepts connections and never answers (a
 * {@link SocketTimeoutException} once {@code shoal.store.timeout} has passed, once), secrets in
 * endpoints and URIs (never in a message or {@code toString()}), sizes in Shoal's grammar, and
 * strings that are not valid UTF-16.
 */
public class TestHostileInput {
  private static final String SECRET = "pAsSwOrD-4711";

  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private ServerSocket silent;
  private final List<Socket> held = new ArrayList<>();
  private Thread acceptor;

  /** A server on 127.0.0.1 that accepts connections, reads what comes, and never answers. */
  @Before
  public void startSilentServer() throws IOException {
    silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    acceptor =
        new Thread(
            () -> {
              while (!silent.isClosed()) {
                try {
                  Socket s = silent.accept();
                  synchronized (held) {
                    held.add(s);
                  }
                  Thread drain =
                      new Thread(
                          () -> {
                            try (InputStream in = s.getInputStream()) {
                              byte[] buf = new byte[4096];
                              while (in.read(buf) >= 0) {
                                // never answer
                              }
                            } catch (IOException closed) {
                              // the test is over
                            }
                          });
                  drain.setDaemon(true);
                  drain.start();
                } catch (IOException closed) {
                  return;
                }
              }
            },
            "silent-server");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  @After
  public void stopSilentServer() throws Exception {
    silent.close();
    synchronized (held) {
      for (Socket s : held) {
        s.close();
      }
    }
    acceptor.join(5000);
  }

  private String silentEndpoint(String userInfo) {
    return "http://" + userInfo + "127.0.0.1:" + silent.getLocalPort();
  }

  private Configuration hungConf() throws IOException {
    Configuration c = conf();
    c.set("shoal.store.timeout", "1s");
    c.set("shoal.cache.dirs", tmp.newFolder("cache").getAbsolutePath() + ":64m");
    c.set("shoal.mount.s.path", "/s");
    c.set("shoal.mount.s.uri", "s3://bucket/prefix");
    c.set("shoal.mount.s.option.aws_endpoint", silentEndpoint("user:" + SECRET + "@"));
    c.set("shoal.mount.s.option.aws_allow_http", "true");
    c.set("shoal.mount.s.option.aws_region", "us-east-1");
    c.set("shoal.mount.s.option.aws_access_key_id", "AKIAEXAMPLE");
    c.set("shoal.mount.s.option.aws_secret_access_key", SECRET);
    c.set("shoal.mount.w.path", "/w");
    c.set("shoal.mount.w.uri", silentEndpoint("") + "/data?sig=" + SECRET);
    c.set("shoal.mount.w.option.allow_http", "true");
    return c;
  }

  private interface Call {
    void run() throws Exception;
  }

  /** Runs {@code call}, expecting a SocketTimeoutException after 1 s and well before 2 s. */
  private static void timesOut(String what, Call call) throws Exception {
    long started = System.nanoTime();
    try {
      call.run();
      fail(what + ": no exception");
    } catch (SocketTimeoutException e) {
      long ms = (System.nanoTime() - started) / 1_000_000;
      assertTrue(what + " took " + ms + " ms", ms >= 1000 && ms < 1900);
      assertTrue(e.getMessage(), e.getMessage().contains("timed out after 1s"));
      assertNoSecret(e);
    }
  }

  private static void assertNoSecret(Throwable e) {
    StringWriter w = new StringWriter();
    e.printStackTrace(new PrintWriter(w));
    assertFalse(w.toString(), w.toString().contains(SECRET));
  }

  @Test
  public void aSilentStoreTimesOutOnceWithASocketTimeoutException() throws Exception {
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), hungConf())) {
      timesOut("getFileStatus", () -> fs.getFileStatus(new Path("/s/a.bin")));
      timesOut("open", () -> fs.open(new Path("/s/a.bin")).close());
      timesOut("listStatus", () -> fs.listStatus(new Path("/s/dir")));
      timesOut("listFiles", () -> fs.listFiles(new Path("/s"), true).hasNext());
      timesOut("create", () -> fs.create(new Path("/s/new.bin")).close());
      timesOut("http getFileStatus", () -> fs.getFileStatus(new Path("/w/a.bin")));
      assertFalse(fs.toString(), fs.toString().contains(SECRET));
    }
  }

  @Test
  public void userInfoInTheFilesystemUriIsNotShown() throws Exception {
    Configuration c = mountLocal(conf(), "d", "/d", tmp.newFolder("d"));
    URI uri = URI.create("shoal://admin:" + SECRET + "@master:19998/");
    try (FileSystem fs = FileSystem.newInstance(uri, c)) {
      assertFalse(fs.toString(), fs.toString().contains(SECRET));
      assertTrue(fs.toString(), fs.toString().contains("master:19998"));
    }
  }

  @Test
  public void sizesUseShoalsGrammarAndNameTheKey() throws Exception {
    Configuration c = mountLocal(conf(), "d", "/d", tmp.newFolder("d"));
    c.set(ShoalFileSystem.READ_BUFFER_SIZE, "1.5m");
    c.set(ShoalFileSystem.BLOCK_SIZE, "64MB");
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), c)) {
      assertEquals(64L << 20, fs.getDefaultBlockSize(new Path("/d")));
    }
    for (String[] bad :
        new String[][] {
          {ShoalFileSystem.READ_BUFFER_SIZE, "3g"},
          {ShoalFileSystem.WRITE_BUFFER_SIZE, "1e"},
          {ShoalFileSystem.BLOCK_SIZE, "-1"},
          {"shoal.runtime.threads", "20000"},
          {"shoal.metadata.ttl", "99999999999999999999h"},
        }) {
      Configuration b = mountLocal(conf(), "d", "/d", tmp.newFolder());
      b.set(bad[0], bad[1]);
      try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), b)) {
        fail(bad[0] + "=" + bad[1] + " accepted");
      } catch (IllegalArgumentException e) {
        assertTrue(e.getMessage(), e.getMessage().contains(bad[0]));
      }
    }
  }

  @Test
  public void stringsThatAreNotUtf16AreErrorsNotCrashes() throws Exception {
    Configuration c = mountLocal(conf(), "d", "/d", tmp.newFolder("d"));
    c.set("shoal.mount.d.path", "/d\uD800");
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), c)) {
      fs.getFileStatus(new Path("/d"));
    } catch (IOException | IllegalArgumentException expected) {
      // Either is a clear refusal; the JVM goes on.
    }
    Configuration ok = mountLocal(conf(), "d", "/d", tmp.newFolder("e"));
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), ok)) {
      try {
        fs.getFileStatus(new Path("/d/\uDC00x"));
      } catch (IOException expected) {
        // not found, or not a string the native side takes: both are IOExceptions
      }
      assertTrue(fs.getFileStatus(new Path("/d")).isDirectory());
    }
  }
}
