package io.shoal.spark;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.JobContext;

/**
 * Splits the driver planned, held in its JVM under an id that the job's configuration names (under
 * {@code key}): the input format hands them out rather than list the path again.
 */
final class PlannedSplits {
  private final String key;
  private final String what;
  private final Map<String, List<InputSplit>> plans = new ConcurrentHashMap<>();

  /** {@code what} names a plan in errors ("load plan"). */
  PlannedSplits(String key, String what) {
    this.key = key;
    this.what = what;
  }

  /**
   * Makes {@code splits} the splits of jobs configured with {@code conf}, which names {@code id}.
   */
  void offer(Configuration conf, String id, List<InputSplit> splits) {
    conf.set(key, id);
    plans.put(id, splits);
  }

  /** Forgets splits once their job is over. */
  void withdraw(String id) {
    plans.remove(id);
  }

  /** Makes a job's splits when it names no plan. */
  interface Lister {
    List<InputSplit> list(JobContext job) throws IOException;
  }

  /**
   * The splits planned for {@code job}, or those {@code lister} makes when its configuration names
   * no plan.
   *
   * @throws IOException when it names a plan that this JVM does not hold
   */
  List<InputSplit> splits(JobContext job, Lister lister) throws IOException {
    String id = job.getConfiguration().get(key);
    if (id == null) {
      return lister.list(job);
    }
    List<InputSplit> planned = plans.get(id);
    if (planned == null) {
      throw new IOException("no " + what + " " + id + " in this JVM");
    }
    return planned;
  }
}
