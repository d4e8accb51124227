package io.shoal.spark;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.Serializable;
import org.apache.hadoop.io.Writable;

/**
 * What loading one file on its node did: one record of the distributed load, its path the Shoal
 * path ({@code /data/a.jpg}).
 */
public final class FileLoad implements Writable, Serializable {
  private static final long serialVersionUID = 1L;

  String path = "";
  String host = "";
  long length;

  /** Bytes the node held before. */
  long cachedBefore;

  /** Bytes fetched from the store. */
  long fetched;

  /** Milliseconds from the start of the task's load until this file was done. */
  long millis;

  /** Null when the load succeeded. */
  String error;

  public FileLoad() {}

  FileLoad(String path, String host, long length) {
    this.path = path;
    this.host = host;
    this.length = length;
  }

  public String path() {
    return path;
  }

  public String host() {
    return host;
  }

  public long length() {
    return length;
  }

  public long cachedBefore() {
    return cachedBefore;
  }

  public long fetched() {
    return fetched;
  }

  public long millis() {
    return millis;
  }

  public String error() {
    return error;
  }

  @Override
  public void write(DataOutput out) throws IOException {
    out.writeUTF(path);
    out.writeUTF(host);
    out.writeLong(length);
    out.writeLong(cachedBefore);
    out.writeLong(fetched);
    out.writeLong(millis);
    out.writeBoolean(error != null);
    if (error != null) {
      out.writeUTF(error);
    }
  }

  @Override
  public void readFields(DataInput in) throws IOException {
    path = in.readUTF();
    host = in.readUTF();
    length = in.readLong();
    cachedBefore = in.readLong();
    fetched = in.readLong();
    millis = in.readLong();
    error = in.readBoolean() ? in.readUTF() : null;
  }

  @Override
  public String toString() {
    return "FileLoad{"
        + path
        + " on "
        + host
        + ", length "
        + length
        + ", cached before "
        + cachedBefore
        + ", fetched "
        + fetched
        + (error == null ? "" : ", error " + error)
        + "}";
  }
}
