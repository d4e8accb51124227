package io.shoal.hadoop;

import io.shoal.jni.NativeFs;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.hadoop.fs.StorageStatistics;

/**
 * Shoal's counters as Hadoop {@link StorageStatistics}: cache hits and misses, bytes from memory,
 * disk and the store, store requests, read-ahead pages, evictions, corrupt pages, metadata cache
 * hits and misses, under the native core's names ({@link NativeFs#counterNames()}).
 *
 * <p>Each read asks native code for the current values, so they are always live. {@link #reset()}
 * cannot reset the native counters; it remembers the current values and reports from there on.
 */
final class ShoalStorageStatistics extends StorageStatistics {
  /** The name of the process-wide instance in {@code GlobalStorageStatistics}. */
  static final String NAME = "ShoalStorageStatistics";

  /** Where the values come from: called once per read of the statistics. */
  interface Source {
    long[] values();
  }

  private final Source source;
  private final String[] names;
  private volatile long[] baseline;

  ShoalStorageStatistics(String name, Source source) {
    super(name);
    this.source = source;
    this.names = NativeFs.counterNames();
    this.baseline = new long[names.length];
  }

  @Override
  public String getScheme() {
    return ShoalFileSystem.SCHEME;
  }

  /** Current values in {@link #names} order, less the baseline of the last reset. */
  private long[] current() {
    long[] raw = source.values();
    long[] base = baseline;
    long[] out = new long[names.length];
    for (int i = 0; i < out.length; i++) {
      out[i] = (i < raw.length ? raw[i] : 0) - (i < base.length ? base[i] : 0);
    }
    return out;
  }

  private int indexOf(String key) {
    for (int i = 0; i < names.length; i++) {
      if (names[i].equals(key)) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public Iterator<LongStatistic> getLongStatistics() {
    long[] values = current();
    List<LongStatistic> out = new ArrayList<>(names.length);
    for (int i = 0; i < names.length; i++) {
      out.add(new LongStatistic(names[i], values[i]));
    }
    return out.iterator();
  }

  /** The value of one counter; null when Shoal has no counter of that name. */
  @Override
  public Long getLong(String key) {
    int i = indexOf(key);
    return i < 0 ? null : current()[i];
  }

  @Override
  public boolean isTracked(String key) {
    return indexOf(key) >= 0;
  }

  /** Reports values from now on; the native counters themselves keep counting. */
  @Override
  public void reset() {
    long[] raw = source.values();
    baseline = Arrays.copyOf(raw, Math.max(raw.length, names.length));
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder(getName()).append('{');
    long[] values = current();
    for (int i = 0; i < names.length; i++) {
      b.append(i == 0 ? "" : ", ").append(names[i]).append('=').append(values[i]);
    }
    return b.append('}').toString();
  }
}
