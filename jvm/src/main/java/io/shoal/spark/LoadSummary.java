package io.shoal.spark;

import io.shoal.conf.Sizes;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The outcome of a distributed load ({@link ShoalTool#load}). */
public final class LoadSummary implements Serializable {
  private static final long serialVersionUID = 1L;

  private final String path;
  private final long files;
  private final long bytes;
  private final long fetchedBytes;
  private final long cachedBytesBefore;
  private final long alreadyCachedFiles;
  private final double seconds;
  private final Map<String, String> failures;
  private final Map<String, Long> filesByHost;

  /**
   * From the records of the loaded files; {@code emptyFiles} is the number of zero-length files
   * under the path, which have no task and count as cached.
   */
  LoadSummary(String path, List<FileLoad> loads, long emptyFiles, double seconds) {
    this(path, tally(loads), emptyFiles, seconds);
  }

  private static LoadReport tally(List<FileLoad> loads) {
    LoadReport r = new LoadReport();
    for (FileLoad l : loads) {
      r.add(l);
    }
    return r;
  }

  /**
   * From the tasks' reports summed; {@code emptyFiles} is the number of zero-length files under the
   * path, which have no task and count as cached.
   */
  LoadSummary(String path, LoadReport done, long emptyFiles, double seconds) {
    this.path = path;
    this.seconds = seconds;
    // Empty files a task did load are counted already.
    long skipped = Math.max(0, emptyFiles - done.emptyFiles);
    this.files = done.files + skipped;
    this.bytes = done.bytes;
    this.fetchedBytes = done.fetched;
    this.cachedBytesBefore = done.cachedBefore;
    this.alreadyCachedFiles = done.alreadyCached + skipped;
    this.failures = Collections.unmodifiableMap(new TreeMap<>(done.failures));
    this.filesByHost = Collections.unmodifiableMap(new TreeMap<>(done.filesByHost));
  }

  public String path() {
    return path;
  }

  /** Files under the path. */
  public long files() {
    return files;
  }

  /** Their bytes. */
  public long bytes() {
    return bytes;
  }

  /** Bytes this load fetched from the store. */
  public long fetchedBytes() {
    return fetchedBytes;
  }

  /** Bytes that were cached on the node loading them already. */
  public long cachedBytesBefore() {
    return cachedBytesBefore;
  }

  /** Files that were cached whole already (nothing to do). */
  public long alreadyCachedFiles() {
    return alreadyCachedFiles;
  }

  public double seconds() {
    return seconds;
  }

  /** Bytes fetched per second. */
  public double throughput() {
    return seconds > 0 ? fetchedBytes / seconds : 0;
  }

  /** Path to error, for the files that failed. */
  public Map<String, String> failures() {
    return failures;
  }

  /** How many files each host loaded (or found cached). */
  public Map<String, Long> filesByHost() {
    return filesByHost;
  }

  public String toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("path", path);
    m.put("files", files);
    m.put("bytes", bytes);
    m.put("fetched_bytes", fetchedBytes);
    m.put("cached_bytes_before", cachedBytesBefore);
    m.put("already_cached_files", alreadyCachedFiles);
    m.put("seconds", seconds);
    m.put("throughput_bytes_per_second", throughput());
    m.put("failures", failures);
    m.put("files_by_host", filesByHost);
    return SummaryJson.of(m);
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            "Shoal load %s: %d files, %s in %.1f s; fetched %s (%s/s), already cached %s"
                + " (%d files whole), %d failed",
            path,
            files,
            Sizes.human(bytes),
            seconds,
            Sizes.human(fetchedBytes),
            Sizes.human(throughput()),
            Sizes.human(cachedBytesBefore),
            alreadyCachedFiles,
            failures.size()));
    List<String> shown = new ArrayList<>(failures.keySet());
    for (int i = 0; i < shown.size() && i < 20; i++) {
      b.append("\n  failed ").append(shown.get(i)).append(": ").append(failures.get(shown.get(i)));
    }
    if (shown.size() > 20) {
      b.append("\n  ... and ").append(shown.size() - 20).append(" more");
    }
    return b.toString();
  }
}
