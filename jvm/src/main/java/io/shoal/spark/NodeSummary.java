package io.shoal.spark;

import io.shoal.conf.Sizes;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToLongFunction;

/**
 * The outcome of a per-node operation ({@link ShoalTool#stat}, {@link ShoalTool#free}): what each
 * node answered, and the hosts that never did. For stat, {@link #cachedPercent()} is the share of
 * the path's bytes held in the cluster (Alluxio's "in-Alluxio" percentage); pages held by several
 * nodes count once per node, so it is capped at 100.
 */
public final class NodeSummary implements Serializable {
  private static final long serialVersionUID = 1L;

  private final String op;
  private final String path;
  private final Map<String, NodeReport> nodes;
  private final List<String> unreached;
  private final double seconds;

  NodeSummary(
      String op, String path, Map<String, NodeReport> nodes, List<String> unreached, double secs) {
    this.op = op;
    this.path = path;
    this.nodes = Collections.unmodifiableMap(new TreeMap<>(nodes));
    this.unreached = Collections.unmodifiableList(new ArrayList<>(unreached));
    this.seconds = secs;
  }

  public String op() {
    return op;
  }

  public String path() {
    return path;
  }

  /** Host to its report. */
  public Map<String, NodeReport> nodes() {
    return nodes;
  }

  /** Hosts that were asked and did not answer (after retries). */
  public List<String> unreached() {
    return unreached;
  }

  public double seconds() {
    return seconds;
  }

  /** Files under the path (as the nodes listed them). */
  public long files() {
    return most(NodeReport::files);
  }

  public long bytes() {
    return most(NodeReport::bytes);
  }

  /** Bytes cached, summed over the nodes (before freeing, for free). */
  public long cachedBytes() {
    return sum(NodeReport::cachedBytes);
  }

  public long freedBytes() {
    return sum(NodeReport::freedBytes);
  }

  public long errorCount() {
    return sum(NodeReport::errorCount);
  }

  private long sum(ToLongFunction<NodeReport> field) {
    return nodes.values().stream().mapToLong(field).sum();
  }

  private long most(ToLongFunction<NodeReport> field) {
    return nodes.values().stream().mapToLong(field).max().orElse(0);
  }

  public double cachedPercent() {
    long b = bytes();
    return b == 0 ? 100.0 : Math.min(100.0, 100.0 * cachedBytes() / b);
  }

  public String toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("op", op);
    m.put("path", path);
    m.put("files", files());
    m.put("bytes", bytes());
    m.put("cached_bytes", cachedBytes());
    m.put("cached_percent", cachedPercent());
    m.put("freed_bytes", freedBytes());
    m.put("errors", errorCount());
    m.put("seconds", seconds);
    m.put("unreached", unreached);
    Map<String, Object> per = new LinkedHashMap<>();
    for (Map.Entry<String, NodeReport> e : nodes.entrySet()) {
      NodeReport r = e.getValue();
      Map<String, Object> n = new LinkedHashMap<>();
      n.put("files", r.files);
      n.put("bytes", r.bytes);
      n.put("cached_bytes", r.cachedBytes);
      n.put("cached_files", r.cachedFiles);
      n.put("freed_bytes", r.freedBytes);
      n.put("errors", r.errors);
      per.put(e.getKey(), n);
    }
    m.put("nodes", per);
    return SummaryJson.of(m);
  }

  @Override
  public String toString() {
    StringBuilder b =
        new StringBuilder(
            String.format("Shoal %s %s: %d files, %s; ", op, path, files(), Sizes.human(bytes())));
    if (op.equals("free")) {
      b.append(
          String.format(
              "freed %s on %d nodes in %.1f s", Sizes.human(freedBytes()), nodes.size(), seconds));
    } else {
      b.append(
          String.format(
              "cached %s (%.1f%%) on %d nodes",
              Sizes.human(cachedBytes()), cachedPercent(), nodes.size()));
    }
    for (Map.Entry<String, NodeReport> e : nodes.entrySet()) {
      NodeReport r = e.getValue();
      double pct = r.bytes == 0 ? 0 : 100.0 * r.cachedBytes / r.bytes;
      b.append(
          String.format(
              "%n  %-24s cached %10s (%5.1f%%) %6d files whole",
              e.getKey(), Sizes.human(r.cachedBytes), pct, r.cachedFiles));
      if (op.equals("free")) {
        b.append(", freed ").append(Sizes.human(r.freedBytes));
      }
      for (String err : r.errors) {
        b.append("\n    failed ").append(err);
      }
    }
    for (String h : unreached) {
      b.append(String.format("%n  %-24s did not answer", h));
    }
    return b.toString();
  }
}
