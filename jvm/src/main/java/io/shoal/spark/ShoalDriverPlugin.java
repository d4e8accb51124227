package io.shoal.spark;

import io.shoal.hadoop.SchemeRegistration;
import java.util.Collections;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.PluginContext;

/** The driver half of {@link ShoalPlugin}: executor membership, host answers, metrics. */
final class ShoalDriverPlugin implements DriverPlugin {
  private ExecutorMembership membership;
  private ShoalMetrics metrics;

  @Override
  public Map<String, String> init(SparkContext sc, PluginContext ctx) {
    // shoal:// and alluxio:// resolve in RDD-only jobs too, with the jar in --jars alone.
    SchemeRegistration.install();
    membership = new ExecutorMembership();
    ExecutorMembership.install(membership);
    // Added before the task scheduler starts: the listener sees every executor from the first.
    sc.addSparkListener(membership);
    return Collections.emptyMap();
  }

  @Override
  public void registerMetrics(String appId, PluginContext ctx) {
    metrics = ShoalMetrics.register(ctx.metricRegistry(), NodeCache.hadoopConf(ctx.conf()));
  }

  @Override
  public Object receive(Object message) {
    if (ShoalPlugin.HOSTS_REQUEST.equals(message) && membership != null) {
      return membership.hosts();
    }
    return null;
  }

  @Override
  public void shutdown() {
    if (ExecutorMembership.current() == membership) {
      ExecutorMembership.install(null);
    }
    if (metrics != null) {
      metrics.close();
    }
  }
}
