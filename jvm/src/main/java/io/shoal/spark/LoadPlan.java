package io.shoal.spark;

import io.shoal.conf.Sizes;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.mapreduce.InputSplit;

/**
 * The tasks of a distributed load, built while the listing streams past: each file goes to an open
 * group of its owner host (the first block's host, as {@code getFileBlockLocations} placed it;
 * {@value #GROUPS_PER_HOST} groups per host, filled in turn), and a group becomes a task ({@link
 * FileGroupSplit}) as soon as it holds {@value #TASK_FILES} files or {@value #TASK_SIZE} bytes. No
 * {@code FileStatus} is kept: only the open groups and the finished tasks, each file in them packed
 * as its path, length, ETag and version. Zero-length files are counted, not loaded.
 */
final class LoadPlan {
  /** Files one task loads at most. */
  static final String TASK_FILES = "shoal.load.task.files";

  /** Bytes one task loads at most (a larger file is a task of its own). */
  static final String TASK_SIZE = "shoal.load.task.size";

  static final int DEFAULT_TASK_FILES = 1000;
  static final long DEFAULT_TASK_SIZE = 1L << 30;

  /**
   * Groups open at once per host, filled in turn, so that a host's files make at least this many
   * tasks (for its task slots) even when they would fit in fewer; set by {@link ShoalTool} from
   * Spark's default parallelism.
   */
  static final String GROUPS_PER_HOST = "io.shoal.spark.load.groups.per.host";

  private final int maxFiles;
  private final long maxBytes;
  private final int groupsPerHost;
  private final Map<String, FileGroupSplit.Builder[]> open = new HashMap<>();
  private final Map<String, Integer> turn = new HashMap<>();
  private final List<InputSplit> splits = new ArrayList<>();
  private long files;
  private long bytes;
  private long emptyFiles;
  private long pending;
  private long peakPending;
  private long payloadBytes;

  LoadPlan(Configuration conf) {
    long n = conf.getTrimmed(TASK_FILES, "").isEmpty() ? DEFAULT_TASK_FILES : count(conf);
    this.maxFiles = (int) n;
    this.maxBytes = Sizes.get(conf, TASK_SIZE, DEFAULT_TASK_SIZE, 1, Long.MAX_VALUE);
    this.groupsPerHost = Math.max(1, Math.min(1024, conf.getInt(GROUPS_PER_HOST, 1)));
  }

  private static long count(Configuration conf) {
    String v = conf.getTrimmed(TASK_FILES);
    long n;
    try {
      n = Long.parseLong(v);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(
          "configuration key " + TASK_FILES + ": '" + v + "' is not a whole number");
    }
    if (n < 1 || n > 1 << 20) {
      throw new IllegalArgumentException(
          "configuration key " + TASK_FILES + ": " + n + " is out of range (1 to 1048576)");
    }
    return n;
  }

  /** Adds every file the iterator yields, one at a time. */
  LoadPlan addAll(RemoteIterator<? extends FileStatus> it) throws IOException {
    while (it.hasNext()) {
      add(it.next());
    }
    return this;
  }

  /** Adds one file of the listing. */
  void add(FileStatus st) {
    if (!st.isFile()) {
      return;
    }
    long len = st.getLen();
    if (len == 0) {
      emptyFiles++;
      return;
    }
    files++;
    bytes += len;
    String host = ownerOf(st);
    FileGroupSplit.Builder[] groups =
        open.computeIfAbsent(host, h -> new FileGroupSplit.Builder[groupsPerHost]);
    int slot = turn.merge(host, 1, Integer::sum) % groupsPerHost;
    FileGroupSplit.Builder g = groups[slot];
    if (g != null && g.count() > 0 && g.bytes() + len > maxBytes) {
      close(groups, slot);
      g = null;
    }
    if (g == null) {
      g = new FileGroupSplit.Builder(host);
      groups[slot] = g;
    }
    g.add(
        st.getPath().toUri().getPath(),
        len,
        FileGroupSplit.etagOf(st),
        FileGroupSplit.versionOf(st));
    pending++;
    peakPending = Math.max(peakPending, pending);
    if (g.count() >= maxFiles || g.bytes() >= maxBytes) {
      close(groups, slot);
    }
  }

  private void close(FileGroupSplit.Builder[] groups, int slot) {
    FileGroupSplit.Builder g = groups[slot];
    FileGroupSplit s = g.build();
    splits.add(s);
    payloadBytes += s.payloadBytes();
    pending -= g.count();
    groups[slot] = null;
  }

  /** The first block's host, as the listing placed the file; "" when none is known. */
  static String ownerOf(FileStatus st) {
    if (st instanceof LocatedFileStatus) {
      BlockLocation[] locs = ((LocatedFileStatus) st).getBlockLocations();
      if (locs != null && locs.length > 0) {
        try {
          String[] hosts = locs[0].getHosts();
          if (hosts.length > 0 && !"localhost".equals(hosts[0])) {
            return hosts[0];
          }
        } catch (IOException e) {
          return "";
        }
      }
    }
    return "";
  }

  /** Ends the listing: the groups still open become tasks. The plan's splits, in order built. */
  List<InputSplit> finish() {
    for (FileGroupSplit.Builder[] groups : open.values()) {
      for (int i = 0; i < groups.length; i++) {
        if (groups[i] != null) {
          close(groups, i);
        }
      }
    }
    open.clear();
    return splits;
  }

  /** The tasks built so far. */
  int splitCount() {
    return splits.size();
  }

  /** Files added to groups that are not tasks yet. */
  long pendingFiles() {
    return pending;
  }

  /** The most files ever waiting in open groups at once. */
  long peakPendingFiles() {
    return peakPending;
  }

  /** Bytes the finished tasks hold for their files. */
  long payloadBytes() {
    return payloadBytes;
  }

  /** Non-empty files planned. */
  long files() {
    return files;
  }

  long bytes() {
    return bytes;
  }

  long emptyFiles() {
    return emptyFiles;
  }

  int maxFiles() {
    return maxFiles;
  }
}
