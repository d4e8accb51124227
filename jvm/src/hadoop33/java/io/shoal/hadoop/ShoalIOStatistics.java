package io.shoal.hadoop;

import io.shoal.jni.NativeFs;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.fs.statistics.IOStatistics;
import org.apache.hadoop.fs.statistics.MeanStatistic;

/**
 * A snapshot of Shoal's counters as Hadoop {@link IOStatistics} (Hadoop 3.3.1 and later): the
 * native core's counters (cache hits and misses, bytes from memory, disk and store, requests,
 * evictions...) under their core names, plus any Java-side counters. Counters only; no gauges,
 * minimums, maximums or means.
 */
final class ShoalIOStatistics implements IOStatistics {
  private final Map<String, Long> counters;

  private ShoalIOStatistics(Map<String, Long> counters) {
    this.counters = Collections.unmodifiableMap(counters);
  }

  /** Native counter values, in {@link NativeFs#counterNames()} order. */
  static ShoalIOStatistics of(long[] nativeValues) {
    Map<String, Long> m = new TreeMap<>();
    String[] names = NativeFs.counterNames();
    for (int i = 0; i < Math.min(names.length, nativeValues.length); i++) {
      m.put(names[i], nativeValues[i]);
    }
    return new ShoalIOStatistics(m);
  }

  /** Counters by name. */
  static ShoalIOStatistics of(Map<String, Long> counters) {
    return new ShoalIOStatistics(new TreeMap<>(counters));
  }

  @Override
  public Map<String, Long> counters() {
    return counters;
  }

  @Override
  public Map<String, Long> gauges() {
    return Collections.emptyMap();
  }

  @Override
  public Map<String, Long> minimums() {
    return Collections.emptyMap();
  }

  @Override
  public Map<String, Long> maximums() {
    return Collections.emptyMap();
  }

  @Override
  public Map<String, MeanStatistic> meanStatistics() {
    return Collections.emptyMap();
  }

  @Override
  public String toString() {
    return "counters=" + counters;
  }
}
