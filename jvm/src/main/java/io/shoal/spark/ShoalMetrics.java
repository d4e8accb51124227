package io.shoal.spark;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import io.shoal.jni.NativeFs;
import io.shoal.jni.NativeLibrary;
import io.shoal.jni.NativeMethods;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shoal's counters as gauges in a Spark plugin's metric registry, so they reach every sink Spark is
 * configured with (console, CSV, JMX, Prometheus servlet). One gauge per native counter of this
 * process, named as {@link NativeFs#counterNames()} names them ({@code cache_hits}, {@code
 * cache_misses}, {@code bytes_from_memory}, {@code bytes_from_disk}, {@code bytes_from_store},
 * {@code store_get_requests}, {@code evictions}...), and:
 *
 * <ul>
 *   <li>{@code bytes_from_cache}: bytes served from memory or disk pages;
 *   <li>{@code cache_used_bytes} and {@code cache_capacity_bytes}: the node's cache directories, as
 *       every process on the node shares them (zero when the configuration has none).
 * </ul>
 *
 * A reporter that reads several gauges at once costs one native call: values are kept for {@value
 * #SNAPSHOT_MILLIS} ms.
 */
final class ShoalMetrics implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ShoalMetrics.class);
  static final long SNAPSHOT_MILLIS = 500;

  private final Configuration conf;
  private long[] counters = new long[0];
  private long countersAt;
  private long[] usage = {0, 0};
  private long usageAt;
  private boolean usageFailed;

  private ShoalMetrics(Configuration conf) {
    this.conf = conf;
  }

  /** Registers the gauges; null (and a warning) when the native library cannot load. */
  static ShoalMetrics register(MetricRegistry registry, Configuration conf) {
    String[] names;
    try {
      NativeLibrary.load();
      names = NativeFs.counterNames();
    } catch (Throwable t) {
      LOG.warn("Shoal: no metrics, the native library did not load: {}", t.toString());
      return null;
    }
    ShoalMetrics m = new ShoalMetrics(conf);
    for (int i = 0; i < names.length; i++) {
      final int index = i;
      registry.register(names[i], (Gauge<Long>) () -> m.counter(index));
    }
    int memory = Arrays.asList(names).indexOf("bytes_from_memory");
    int disk = Arrays.asList(names).indexOf("bytes_from_disk");
    registry.register("bytes_from_cache", (Gauge<Long>) () -> m.counter(memory) + m.counter(disk));
    registry.register("cache_used_bytes", (Gauge<Long>) () -> m.usage(0));
    registry.register("cache_capacity_bytes", (Gauge<Long>) () -> m.usage(1));
    return m;
  }

  private synchronized long counter(int index) {
    long now = System.nanoTime();
    if (counters.length == 0 || now - countersAt > SNAPSHOT_MILLIS * 1_000_000L) {
      counters = NativeMethods.processStats();
      countersAt = now;
    }
    return index >= 0 && index < counters.length ? counters[index] : 0;
  }

  private synchronized long usage(int index) {
    long now = System.nanoTime();
    if (!usageFailed && (usageAt == 0 || now - usageAt > SNAPSHOT_MILLIS * 1_000_000L)) {
      usageAt = now;
      try {
        usage = NodeCache.fs(conf).cacheUsage();
      } catch (Exception e) {
        // No (valid) Shoal configuration in this application: no cache to report.
        usageFailed = true;
        LOG.info("Shoal: no cache usage metrics: {}", e.toString());
      }
    }
    return usage[index];
  }

  @Override
  public void close() {}
}
