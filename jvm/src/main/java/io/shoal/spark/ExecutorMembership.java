package io.shoal.spark;

import io.shoal.jni.NativeLibrary;
import io.shoal.jni.NativeMethods;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The executors of this Spark application and their hosts, as the driver's listener bus reports
 * them. Every change is handed to the native placement ring ({@link
 * NativeMethods#clusterSetHosts}), so that {@code ShoalFileSystem.getFileBlockLocations} in this
 * JVM names hosts that run executors now. Host names are {@code ExecutorInfo.executorHost}, the
 * names Spark's scheduler matches preferred locations against.
 */
public final class ExecutorMembership extends SparkListener {
  private static final Logger LOG = LoggerFactory.getLogger(ExecutorMembership.class);

  private static volatile ExecutorMembership current;

  private final Map<String, String> hostByExecutor = new HashMap<>();
  private String[] hosts = new String[0];

  /** The membership the driver plugin of this JVM installed; null without the plugin. */
  public static ExecutorMembership current() {
    return current;
  }

  static void install(ExecutorMembership membership) {
    current = membership;
  }

  @Override
  public void onExecutorAdded(SparkListenerExecutorAdded event) {
    added(event.executorId(), event.executorInfo().executorHost());
  }

  @Override
  public void onExecutorRemoved(SparkListenerExecutorRemoved event) {
    removed(event.executorId());
  }

  /** Records an executor on a host (also what the listener calls). */
  public synchronized void added(String executorId, String host) {
    if (host == null || host.isEmpty()) {
      return;
    }
    hostByExecutor.put(executorId, host);
    publish();
  }

  public synchronized void removed(String executorId) {
    if (hostByExecutor.remove(executorId) != null) {
      publish();
    }
  }

  /** The distinct hosts with at least one executor, sorted. */
  public synchronized String[] hosts() {
    return hosts.clone();
  }

  /** How many executors are known. */
  public synchronized int executors() {
    return hostByExecutor.size();
  }

  /**
   * Waits until at least {@code count} executors are known or {@code timeoutMs} passes; true when
   * they are.
   */
  public synchronized boolean awaitExecutors(int count, long timeoutMs)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    while (hostByExecutor.size() < count) {
      long left = (deadline - System.nanoTime()) / 1_000_000L;
      if (left <= 0) {
        return false;
      }
      wait(left);
    }
    return true;
  }

  private void publish() {
    String[] next = new TreeSet<>(hostByExecutor.values()).toArray(new String[0]);
    notifyAll();
    if (Arrays.equals(next, hosts)) {
      return;
    }
    hosts = next;
    LOG.info("Shoal: executor hosts now {}", Arrays.toString(next));
    setNativeHosts(next);
  }

  /** Hands hosts to the native placement ring of this process; logs instead of failing. */
  static void setNativeHosts(String[] hosts) {
    try {
      NativeLibrary.load();
      NativeMethods.clusterSetHosts(hosts);
    } catch (Throwable t) {
      LOG.warn("Shoal: cannot set the placement hosts: {}", t.toString());
    }
  }
}
