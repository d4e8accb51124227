package io.shoal.spark;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * Shoal's Spark plugin: {@code spark.plugins=io.shoal.spark.ShoalPlugin}.
 *
 * <ul>
 *   <li>Membership: the driver tracks executors as they join and leave, and places files on their
 *       hosts (consistent hashing), so {@code getFileBlockLocations} steers each task to the node
 *       that caches its file. Executors ask the driver for the same host list.
 *   <li>Metrics: the driver and every executor register Shoal's counters (cache hits, misses, bytes
 *       from cache and from the store, store requests, evictions, cache bytes used and capacity) as
 *       gauges in Spark's metrics system, under {@code plugin.<this class>.*}.
 * </ul>
 *
 * Without the plugin, {@code shoal.cluster.hosts} gives a static host list; with neither, files
 * have no preferred location and nothing else changes.
 */
public final class ShoalPlugin implements SparkPlugin {
  /** The message an executor sends the driver to learn the current hosts. */
  static final String HOSTS_REQUEST = "shoal.hosts";

  @Override
  public DriverPlugin driverPlugin() {
    return new ShoalDriverPlugin();
  }

  @Override
  public ExecutorPlugin executorPlugin() {
    return new ShoalExecutorPlugin();
  }
}
