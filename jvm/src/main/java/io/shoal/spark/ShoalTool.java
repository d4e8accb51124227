package io.shoal.spark;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkContext;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkExecutorInfo;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.util.LongAccumulator;

/**
 * Cluster-wide cache operations on a Shoal path, run as Spark jobs (Alluxio's {@code
 * distributedLoad}, {@code free} and the in-Alluxio percentage of {@code stat}):
 *
 * <ul>
 *   <li>{@link #load}: every file under the path is loaded into the cache of its owner node; the
 *       files are grouped by owner (placed by {@code getFileBlockLocations}) into tasks of at most
 *       {@code shoal.load.task.files} files and {@code shoal.load.task.size} bytes, each task
 *       loading its group in one native call with {@code shoal.load.parallel} fetches in flight;
 *       only missing pages are fetched, so running it again fetches nothing. A progress bar runs on
 *       stderr, counting files as they finish.
 *   <li>{@link #free}: every node drops the path's pages; the store is left alone.
 *   <li>{@link #stat}: how many of the path's bytes each node caches, and in total.
 * </ul>
 *
 * From Java or Scala: {@code ShoalTool.load(spark, "shoal:///data")}; from PySpark: {@code
 * python/shoal_spark.py}; from a shell: {@code spark-submit --class io.shoal.spark.ShoalTool
 * shoal.jar load|free|stat [--json] shoal:///path...}.
 *
 * <p>Settings (Spark conf): {@value #MIN_EXECUTORS} (default 1): with the plugin, wait for this
 * many executors before placing files (up to {@value #WAIT_SECONDS}, default 120 s); {@value
 * #PROGRESS} (default true): the progress bar.
 */
public final class ShoalTool {
  public static final String MIN_EXECUTORS = "spark.shoal.minExecutors";
  public static final String WAIT_SECONDS = "spark.shoal.executorWaitSeconds";
  public static final String PROGRESS = "spark.shoal.progress";

  /** Rounds of per-node tasks before a host that never answers is given up. */
  static final int NODE_ROUNDS = 4;

  private ShoalTool() {}

  public static LoadSummary load(SparkSession spark, String path) throws IOException {
    return load(spark.sparkContext(), path);
  }

  public static LoadSummary load(JavaSparkContext jsc, String path) throws IOException {
    return load(jsc.sc(), path);
  }

  /** Loads every file under {@code path} into its owner node's cache. */
  public static LoadSummary load(SparkContext sc, String path) throws IOException {
    return load(sc, path, false);
  }

  public static LoadSummary loadFooters(SparkSession spark, String path) throws IOException {
    return loadFooters(spark.sparkContext(), path);
  }

  /**
   * Loads only the Parquet footers of the files under {@code path}, each into its owner node's
   * cache, parsed there: a cold node then plans queries over the dataset without reading a footer
   * from the store. Files that are not Parquet cost their last page.
   */
  public static LoadSummary loadFooters(SparkContext sc, String path) throws IOException {
    return load(sc, path, true);
  }

  private static LoadSummary load(SparkContext sc, String path, boolean footers)
      throws IOException {
    Configuration conf = new Configuration(sc.hadoopConfiguration());
    conf.setBoolean(LoadInputFormat.FOOTERS, footers);
    Path p = NodeCache.shoalPath(path, conf);
    awaitExecutors(sc);
    // At least as many tasks per host as it has task slots, where the files allow.
    int hosts = Math.max(1, executorHosts(sc).size());
    conf.setInt(LoadPlan.GROUPS_PER_HOST, Math.max(1, sc.defaultParallelism() / hosts));
    long t0 = System.nanoTime();
    FileSystem fs = p.getFileSystem(conf);
    // One listing, streamed: the tasks are built as it goes and no FileStatus is kept.
    LoadPlan plan = new LoadPlan(conf).addAll(fs.listFiles(p, true));
    List<InputSplit> splits = plan.finish();
    LoadReport done = new LoadReport();
    if (!splits.isEmpty()) {
      String id = "shoal-load-" + UUID.randomUUID();
      LoadInputFormat.PLANS.offer(conf, id, splits);
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
      LongAccumulator filesDone = sc.longAccumulator("shoal load files");
      LongAccumulator bytesDone = sc.longAccumulator("shoal load bytes");
      try {
        List<LoadReport> reports =
            inJobGroup(
                sc,
                id,
                "Shoal load " + p + ": " + plan.files() + " files in " + splits.size() + " tasks",
                () -> {
                  JavaRDD<LoadReport> rdd =
                      jsc.newAPIHadoopRDD(conf, LoadInputFormat.class, Text.class, FileLoad.class)
                          .values()
                          .mapPartitions(new Tally(filesDone, bytesDone));
                  if (!sc.getConf().getBoolean(PROGRESS, true)) {
                    return rdd.collect();
                  }
                  LoadProgress progress =
                      new LoadProgress(
                          sc, id, "Shoal load", plan.files(), plan.bytes(), filesDone, bytesDone);
                  try {
                    return rdd.collect();
                  } finally {
                    progress.close();
                  }
                });
        for (LoadReport r : reports) {
          done.merge(r);
        }
      } finally {
        LoadInputFormat.PLANS.withdraw(id);
      }
    }
    return new LoadSummary(path, done, plan.emptyFiles(), (System.nanoTime() - t0) / 1e9);
  }

  public static NodeSummary free(SparkSession spark, String path) throws IOException {
    return free(spark.sparkContext(), path);
  }

  public static NodeSummary free(JavaSparkContext jsc, String path) throws IOException {
    return free(jsc.sc(), path);
  }

  /** Drops the pages of every file under {@code path} from every node's cache. */
  public static NodeSummary free(SparkContext sc, String path) throws IOException {
    return onEveryNode(sc, "free", path);
  }

  public static NodeSummary stat(SparkSession spark, String path) throws IOException {
    return stat(spark.sparkContext(), path);
  }

  public static NodeSummary stat(JavaSparkContext jsc, String path) throws IOException {
    return stat(jsc.sc(), path);
  }

  /** How much of {@code path} each node caches. */
  public static NodeSummary stat(SparkContext sc, String path) throws IOException {
    return onEveryNode(sc, "stat", path);
  }

  /** The hosts the plugin tracks, else those with executors now; empty when local. */
  static List<String> executorHosts(SparkContext sc) {
    if (sc.isLocal()) {
      return new ArrayList<>();
    }
    ExecutorMembership m = ExecutorMembership.current();
    if (m != null && m.hosts().length > 0) {
      return new ArrayList<>(Arrays.asList(m.hosts()));
    }
    Set<String> hosts = new LinkedHashSet<>();
    BlockManagerId driver = SparkEnv.get().blockManager().blockManagerId();
    for (SparkExecutorInfo info : sc.statusTracker().getExecutorInfos()) {
      if (!(info.host().equals(driver.host()) && info.port() == driver.port())) {
        hosts.add(info.host());
      }
    }
    return new ArrayList<>(hosts);
  }

  /**
   * Runs {@code op} (free, stat) over every file under the path on every executor host: the driver
   * lists the path once ({@link NodeInputFormat#groups}) and each host gets a task per group of
   * files, placed on it (any executor may hold pages of any file: reads and prefetches cache pages
   * wherever Spark ran them). The (host, group) pairs no task answered on that host are run again,
   * up to {@value #NODE_ROUNDS} rounds; the hosts left with a pair are reported unreached.
   */
  private static NodeSummary onEveryNode(SparkContext sc, String op, String path)
      throws IOException {
    Configuration conf = new Configuration(sc.hadoopConfiguration());
    Path p = NodeCache.shoalPath(path, conf);
    awaitExecutors(sc);
    long t0 = System.nanoTime();
    conf.set(NodeInputFormat.OP, op);
    conf.set(NodeInputFormat.PATH, p.toString());
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(sc);
    List<String> targets = executorHosts(sc);
    List<FileGroupSplit> groups = NodeInputFormat.groups(conf, p);
    long files = 0;
    for (FileGroupSplit g : groups) {
      files += g.count();
    }
    // Host to its groups' reports added up; "host\ngroup" of every pair answered.
    Map<String, NodeReport> answered = new TreeMap<>();
    Set<String> done = new HashSet<>();
    List<InputSplit> pending = NodeInputFormat.splits(targets, groups);
    for (int round = 0; round < NODE_ROUNDS && !pending.isEmpty(); round++) {
      String id = "shoal-" + op + "-" + UUID.randomUUID();
      NodeInputFormat.PLANS.offer(conf, id, pending);
      Set<String> hosts = new TreeSet<>();
      for (InputSplit s : pending) {
        hosts.add(((NodeInputFormat.HostSplit) s).host());
      }
      List<NodeReport> reports;
      try {
        reports =
            inJobGroup(
                sc,
                id,
                "Shoal "
                    + op
                    + " "
                    + p
                    + ": "
                    + files
                    + " files, "
                    + pending.size()
                    + " tasks on "
                    + (targets.isEmpty() ? "this node" : hosts),
                () ->
                    jsc.newAPIHadoopRDD(conf, NodeInputFormat.class, Text.class, NodeReport.class)
                        .values()
                        .collect());
      } finally {
        NodeInputFormat.PLANS.withdraw(id);
      }
      for (NodeReport r : reports) {
        // A task answers for the host it ran on, which Spark may have chosen over its own
        // (whose pair then stays pending); one without a host (local mode) for its group.
        String pair = (r.target.isEmpty() ? "" : r.host) + "\n" + r.group;
        if (done.add(pair)) {
          NodeReport sum = answered.computeIfAbsent(r.host, h -> new NodeReport());
          sum.host = r.host;
          sum.add(r);
        }
      }
      List<InputSplit> left = new ArrayList<>();
      for (InputSplit s : pending) {
        NodeInputFormat.HostSplit h = (NodeInputFormat.HostSplit) s;
        if (!done.contains(h.host() + "\n" + h.group())) {
          left.add(s);
        }
      }
      pending = left;
    }
    Set<String> missing = new TreeSet<>();
    for (InputSplit s : pending) {
      missing.add(((NodeInputFormat.HostSplit) s).host());
    }
    return new NodeSummary(
        op, path, answered, new ArrayList<>(missing), (System.nanoTime() - t0) / 1e9);
  }

  /**
   * With the plugin, waits until {@value #MIN_EXECUTORS} executors have joined and the listener has
   * caught up with the executors Spark knows, so files are placed over all of them.
   */
  static void awaitExecutors(SparkContext sc) {
    ExecutorMembership m = ExecutorMembership.current();
    if (m == null) {
      return;
    }
    SparkConf conf = sc.getConf();
    int min = sc.isLocal() ? 1 : conf.getInt(MIN_EXECUTORS, 1);
    long waitMs = conf.getLong(WAIT_SECONDS, 120) * 1000;
    try {
      if (!m.awaitExecutors(min, waitMs)) {
        System.err.println(
            "Shoal: only " + m.executors() + " of " + min + " executors joined; going on");
        return;
      }
      if (!sc.isLocal()) {
        // getExecutorInfos also lists the driver; the listener bus may lag behind it.
        int known = sc.statusTracker().getExecutorInfos().length - 1;
        m.awaitExecutors(known, 10_000);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static <T> T inJobGroup(SparkContext sc, String group, String text, Callable<T> job)
      throws IOException {
    String[] keys = {"spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"};
    String[] saved = new String[keys.length];
    for (int i = 0; i < keys.length; i++) {
      saved[i] = sc.getLocalProperty(keys[i]);
    }
    sc.setJobGroup(group, text, false);
    try {
      return job.call();
    } catch (IOException | RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IOException(e);
    } finally {
      for (int i = 0; i < keys.length; i++) {
        sc.setLocalProperty(keys[i], saved[i]);
      }
    }
  }

  /**
   * Sums a task's records into its {@link LoadReport}, and adds each file to the progress
   * accumulators as its record arrives (as the file finishes), so that the executor's heartbeats
   * carry the task's progress to the driver before the task ends.
   */
  static final class Tally implements FlatMapFunction<Iterator<FileLoad>, LoadReport> {
    private static final long serialVersionUID = 1L;
    private final LongAccumulator files;
    private final LongAccumulator bytes;

    Tally(LongAccumulator files, LongAccumulator bytes) {
      this.files = files;
      this.bytes = bytes;
    }

    @Override
    public Iterator<LoadReport> call(Iterator<FileLoad> records) {
      LoadReport r = new LoadReport();
      while (records.hasNext()) {
        FileLoad l = records.next();
        r.add(l);
        files.add(1);
        bytes.add(l.length);
      }
      return Collections.singletonList(r).iterator();
    }
  }

  private static final String USAGE =
      "usage: spark-submit --class io.shoal.spark.ShoalTool shoal.jar load|free|stat [--json]"
          + " [--footers] PATH...";

  /**
   * {@code load|free|stat [--json] [--footers] PATH...} ({@code --footers}: {@code load} reads only
   * Parquet footers); exits 1 when a file failed or a node never answered.
   */
  public static void main(String[] args) throws Exception {
    List<String> rest = new ArrayList<>(Arrays.asList(args));
    boolean json = rest.remove("--json");
    boolean footers = rest.remove("--footers");
    if (rest.size() < 2 || !Arrays.asList("load", "free", "stat").contains(rest.get(0))) {
      System.err.println(USAGE);
      System.exit(2);
    }
    String op = rest.remove(0);
    SparkContext sc =
        SparkContext.getOrCreate(new SparkConf().setIfMissing("spark.app.name", "Shoal " + op));
    boolean failed = false;
    try {
      for (String path : rest) {
        if (op.equals("load")) {
          LoadSummary s = footers ? loadFooters(sc, path) : load(sc, path);
          System.out.println(json ? s.toJson() : s.toString());
          failed |= !s.failures().isEmpty();
        } else {
          NodeSummary s = op.equals("free") ? free(sc, path) : stat(sc, path);
          System.out.println(json ? s.toJson() : s.toString());
          failed |= !s.unreached().isEmpty() || s.errorCount() > 0;
        }
      }
    } finally {
      sc.stop();
    }
    if (failed) {
      System.exit(1);
    }
  }
}
