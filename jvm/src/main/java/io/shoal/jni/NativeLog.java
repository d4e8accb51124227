package io.shoal.jni;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards the native core's log events (warnings such as an unknown configuration key or a full
 * cache directory) to SLF4J, so they land in the executor's log4j log with everything else.
 *
 * <p>Native threads never call into Java: the core queues each event, and one daemon thread started
 * here, {@value #THREAD_NAME}, takes them with {@link NativeMethods#logPoll} and logs each under
 * the logger {@code io.shoal.native.<rust module path>} (for example {@code
 * io.shoal.native.shoal_core.config}) at its own level. Only the levels that the logger {@value
 * #LOGGER} has enabled when a filesystem is created are forwarded; setting {@code
 * log4j.logger.io.shoal.native=DEBUG} turns on the core's debug events. Each native call site logs
 * at most 20 events a minute; the next one logged says how many were left out.
 */
public final class NativeLog {
  /** The logger whose level decides what is forwarded, and the prefix of every native logger. */
  public static final String LOGGER = "io.shoal.native";

  static final String THREAD_NAME = "shoal-native-log";

  private static final ConcurrentMap<String, Logger> LOGGERS = new ConcurrentHashMap<>();
  private static Thread drain;

  private NativeLog() {}

  /**
   * Sets the forwarded level from {@value #LOGGER}'s and starts the forwarding thread unless it
   * runs. Call on a Java thread with the library loaded; repeated calls only refresh the level.
   */
  public static synchronized void start() {
    NativeMethods.logInit(level(LoggerFactory.getLogger(LOGGER)));
    if (drain == null) {
      Thread t = new Thread(NativeLog::run, THREAD_NAME);
      t.setDaemon(true);
      t.start();
      drain = t;
    }
  }

  /** The most verbose level a logger has enabled: 0 none, 1 error ... 5 trace. */
  static int level(Logger log) {
    if (log.isTraceEnabled()) {
      return 5;
    }
    if (log.isDebugEnabled()) {
      return 4;
    }
    if (log.isInfoEnabled()) {
      return 3;
    }
    if (log.isWarnEnabled()) {
      return 2;
    }
    return log.isErrorEnabled() ? 1 : 0;
  }

  private static void run() {
    while (true) {
      String[] batch;
      try {
        batch = NativeMethods.logPoll(1000);
      } catch (Throwable t) {
        LoggerFactory.getLogger(LOGGER).warn("native log forwarding stopped", t);
        return;
      }
      for (int i = 0; i + 2 < batch.length; i += 3) {
        try {
          deliver(batch[i], batch[i + 1], batch[i + 2]);
        } catch (RuntimeException e) {
          // A broken appender must not stop the forwarding of the next events.
        }
      }
    }
  }

  /** Logs one native event; {@code level} is {@code "1"} (error) to {@code "5"} (trace). */
  static void deliver(String level, String target, String message) {
    Logger log = LOGGERS.computeIfAbsent(target, t -> LoggerFactory.getLogger(loggerName(t)));
    switch (level) {
      case "1":
        log.error(message);
        break;
      case "2":
        log.warn(message);
        break;
      case "3":
        log.info(message);
        break;
      case "4":
        log.debug(message);
        break;
      default:
        log.trace(message);
        break;
    }
  }

  /** {@code shoal_core::store::object} becomes {@code io.shoal.native.shoal_core.store.object}. */
  static String loggerName(String target) {
    return LOGGER + "." + target.replace("::", ".");
  }
}
