package io.shoal.spark;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.io.Writable;

/**
 * What one node answered for a path, or for one group of its files: its cached bytes (stat) or what
 * it freed (free). The driver adds a node's groups up ({@link #add}).
 */
public final class NodeReport implements Writable, Serializable {
  private static final long serialVersionUID = 1L;

  /** At most this many failures are kept with their paths; {@link #errorCount} counts them all. */
  static final int MAX_ERRORS = 20;

  /** The host the task was meant for; empty when any would do. */
  String target = "";

  /** The host that answered. */
  String host = "";

  /** The group of the listing's files the task covered ({@code NodeInputFormat.HostSplit}). */
  int group;

  long files;
  long bytes;

  /** Bytes of the path's files this node held (before freeing, for free). */
  long cachedBytes;

  /** Files this node held whole. */
  long cachedFiles;

  long freedBytes;
  long errorCount;
  List<String> errors = new ArrayList<>();

  public NodeReport() {}

  public String target() {
    return target;
  }

  public String host() {
    return host;
  }

  public long files() {
    return files;
  }

  public long bytes() {
    return bytes;
  }

  public long cachedBytes() {
    return cachedBytes;
  }

  public long cachedFiles() {
    return cachedFiles;
  }

  public long freedBytes() {
    return freedBytes;
  }

  public long errorCount() {
    return errorCount;
  }

  public List<String> errors() {
    return errors;
  }

  /** Adds another group's report of the same node to this one. */
  void add(NodeReport other) {
    files += other.files;
    bytes += other.bytes;
    cachedBytes += other.cachedBytes;
    cachedFiles += other.cachedFiles;
    freedBytes += other.freedBytes;
    errorCount += other.errorCount;
    for (String e : other.errors) {
      if (errors.size() < MAX_ERRORS) {
        errors.add(e);
      }
    }
  }

  void error(String path, Throwable t) {
    errorCount++;
    if (errors.size() < MAX_ERRORS) {
      errors.add(path + ": " + t);
    }
  }

  @Override
  public void write(DataOutput out) throws IOException {
    out.writeUTF(target);
    out.writeUTF(host);
    out.writeInt(group);
    out.writeLong(files);
    out.writeLong(bytes);
    out.writeLong(cachedBytes);
    out.writeLong(cachedFiles);
    out.writeLong(freedBytes);
    out.writeLong(errorCount);
    out.writeInt(errors.size());
    for (String e : errors) {
      out.writeUTF(e);
    }
  }

  @Override
  public void readFields(DataInput in) throws IOException {
    target = in.readUTF();
    host = in.readUTF();
    group = in.readInt();
    files = in.readLong();
    bytes = in.readLong();
    cachedBytes = in.readLong();
    cachedFiles = in.readLong();
    freedBytes = in.readLong();
    errorCount = in.readLong();
    int n = in.readInt();
    errors = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      errors.add(in.readUTF());
    }
  }

  @Override
  public String toString() {
    return "NodeReport{"
        + host
        + ": files "
        + files
        + ", bytes "
        + bytes
        + ", cached "
        + cachedBytes
        + ", freed "
        + freedBytes
        + ", errors "
        + errorCount
        + "}";
  }
}
