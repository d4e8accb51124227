package io.shoal.spark;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Files and bytes a distributed load has done: those of finished tasks (their accumulators, merged
 * by Spark when a task ends) plus the latest partial counts of running tasks (which executors send
 * with their heartbeats), so progress moves as files finish, not only as tasks do.
 */
final class ProgressCount {
  private final Map<Long, long[]> running = new ConcurrentHashMap<>();

  /** A running task's counts so far, as its executor's latest heartbeat reported them. */
  void running(long taskId, long files, long bytes) {
    running.put(taskId, new long[] {files, bytes});
  }

  /** A task ended: its counts are in the finished tasks' totals now (or void, if it failed). */
  void ended(long taskId) {
    running.remove(taskId);
  }

  /** {@code [files, bytes]}: the finished tasks' totals plus the running tasks' counts. */
  long[] done(long finishedFiles, long finishedBytes) {
    long files = finishedFiles;
    long bytes = finishedBytes;
    for (long[] r : running.values()) {
      files += r[0];
      bytes += r[1];
    }
    return new long[] {files, bytes};
  }
}
