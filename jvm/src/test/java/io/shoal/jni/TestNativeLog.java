package io.shoal.jni;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.log4j.AppenderSkeleton;
import org.apache.log4j.Level;
import org.apache.log4j.Logger;
import org.apache.log4j.spi.LoggingEvent;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

/**
 * The native core's warnings reach the JVM's log: SLF4J, here bound to Hadoop's reload4j, under
 * {@code io.shoal.native.<rust module>} at their own level.
 */
public class TestNativeLog {
  /** Keeps what is logged under io.shoal.native. */
  static final class Captured extends AppenderSkeleton {
    final List<LoggingEvent> events = new ArrayList<>();

    @Override
    protected synchronized void append(LoggingEvent event) {
      event.getThreadName(); // log4j takes the thread's name when first asked
      events.add(event);
    }

    synchronized List<LoggingEvent> snapshot() {
      return new ArrayList<>(events);
    }

    @Override
    public void close() {}

    @Override
    public boolean requiresLayout() {
      return false;
    }
  }

  private final Captured captured = new Captured();
  private final Logger logger = Logger.getLogger(NativeLog.LOGGER);

  @Before
  public void attach() {
    logger.addAppender(captured);
  }

  @After
  public void detach() {
    logger.removeAppender(captured);
  }

  /** Waits up to 10 s for an event whose message contains {@code text}. */
  private LoggingEvent await(String text) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (System.nanoTime() < deadline) {
      for (LoggingEvent e : captured.snapshot()) {
        if (String.valueOf(e.getMessage()).contains(text)) {
          return e;
        }
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no log event containing '" + text + "': " + captured.snapshot());
  }

  @Test
  public void anUnknownKeyIsAWarningInTheJvmLog() throws Exception {
    File dir = Files.createTempDirectory("shoal-log").toFile();
    File cache = Files.createTempDirectory("shoal-log-cache").toFile();
    Map<String, String> conf = new TreeMap<>();
    conf.put("shoal.mount.d.path", "/d");
    conf.put("shoal.mount.d.uri", "file://" + dir.getAbsolutePath());
    conf.put("shoal.cache.dirs", cache.getAbsolutePath() + ":64m");
    conf.put("shoal.cache.dir", "/tmp/typo:1g");
    try (NativeFs fs = NativeFs.open(conf)) {
      LoggingEvent e = await("shoal.cache.dir'");
      assertEquals(Level.WARN, e.getLevel());
      assertTrue(
          String.valueOf(e.getMessage()), e.getMessage().toString().contains("shoal.cache.dirs"));
      assertTrue(e.getLoggerName(), e.getLoggerName().startsWith(NativeLog.LOGGER + ".shoal_core"));
      assertEquals(NativeLog.THREAD_NAME, e.getThreadName());
    }
  }

  @Test
  public void levelsFollowTheLogger() {
    Logger l = Logger.getLogger(NativeLog.LOGGER + ".levels");
    l.setLevel(Level.DEBUG);
    assertEquals(4, NativeLog.level(org.slf4j.LoggerFactory.getLogger(l.getName())));
    l.setLevel(Level.ERROR);
    assertEquals(1, NativeLog.level(org.slf4j.LoggerFactory.getLogger(l.getName())));
    l.setLevel(Level.OFF);
    assertEquals(0, NativeLog.level(org.slf4j.LoggerFactory.getLogger(l.getName())));
    assertEquals(
        "io.shoal.native.shoal_core.store.object",
        NativeLog.loggerName("shoal_core::store::object"));
  }
}
