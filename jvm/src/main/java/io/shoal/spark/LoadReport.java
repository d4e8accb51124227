package io.shoal.spark;

import java.io.Serializable;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one task of the distributed load did, summed over its files: what the driver receives
 * instead of a record per file, so that its memory holds the failures, not every file.
 */
final class LoadReport implements Serializable {
  private static final long serialVersionUID = 1L;

  long files;
  long bytes;
  long fetched;
  long cachedBefore;
  long alreadyCached;
  long emptyFiles;
  final Map<String, String> failures = new TreeMap<>();
  final Map<String, Long> filesByHost = new TreeMap<>();

  /** Counts one file's record. */
  LoadReport add(FileLoad l) {
    files++;
    bytes += l.length;
    if (l.length == 0) {
      emptyFiles++;
    }
    if (l.error != null) {
      failures.put(l.path, l.error);
      return this;
    }
    fetched += l.fetched;
    cachedBefore += Math.min(l.cachedBefore, l.length);
    if (l.cachedBefore >= l.length) {
      alreadyCached++;
    }
    filesByHost.merge(l.host, 1L, Long::sum);
    return this;
  }

  /** Adds another task's report to this one. */
  LoadReport merge(LoadReport o) {
    files += o.files;
    bytes += o.bytes;
    fetched += o.fetched;
    cachedBefore += o.cachedBefore;
    alreadyCached += o.alreadyCached;
    emptyFiles += o.emptyFiles;
    failures.putAll(o.failures);
    o.filesByHost.forEach((h, n) -> filesByHost.merge(h, n, Long::sum));
    return this;
  }
}
