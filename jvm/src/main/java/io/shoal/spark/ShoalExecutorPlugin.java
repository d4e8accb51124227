package io.shoal.spark;

import io.shoal.hadoop.SchemeRegistration;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The executor half of {@link ShoalPlugin}: registers the metrics, and keeps this JVM's placement
 * hosts in step with the driver's (asked every {@value #REFRESH_SECONDS} s), so that a listing done
 * on an executor reports the same owners as one done on the driver.
 */
final class ShoalExecutorPlugin implements ExecutorPlugin {
  private static final Logger LOG = LoggerFactory.getLogger(ShoalExecutorPlugin.class);
  static final long REFRESH_SECONDS = 15;

  private ShoalMetrics metrics;
  private ScheduledExecutorService refresher;

  @Override
  public void init(PluginContext ctx, Map<String, String> extraConf) {
    SchemeRegistration.install();
    metrics = ShoalMetrics.register(ctx.metricRegistry(), NodeCache.hadoopConf(ctx.conf()));
    refresher =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "shoal-hosts");
              t.setDaemon(true);
              return t;
            });
    // Not in init itself: in local mode the executor starts inside the driver's SparkContext.
    refresher.scheduleWithFixedDelay(() -> refresh(ctx), 0, REFRESH_SECONDS, TimeUnit.SECONDS);
  }

  private String[] last;

  private void refresh(PluginContext ctx) {
    try {
      Object answer = ctx.ask(ShoalPlugin.HOSTS_REQUEST);
      if (answer instanceof String[]) {
        String[] hosts = (String[]) answer;
        if (last == null || !java.util.Arrays.equals(last, hosts)) {
          last = hosts;
          ExecutorMembership.setNativeHosts(hosts);
        }
      }
    } catch (Exception e) {
      LOG.debug("Shoal: cannot ask the driver for hosts", e);
    }
  }

  @Override
  public void shutdown() {
    if (refresher != null) {
      refresher.shutdownNow();
    }
    if (metrics != null) {
      metrics.close();
    }
  }
}
