package io.shoal.spark;

import io.shoal.hadoop.ShoalFileStatus;
import io.shoal.hadoop.ShoalLocatedFileStatus;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInput;
import java.io.DataInputStream;
import java.io.DataOutput;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.io.Writable;
import org.apache.hadoop.mapreduce.InputSplit;

/**
 * One task of the distributed load: a group of files with one owner host, each kept as only what
 * loading it needs (its Shoal path, length, ETag and version, packed into one byte array: about the
 * path's length plus 60 bytes a file on the driver), not its {@code FileStatus}.
 */
public final class FileGroupSplit extends InputSplit implements Writable {
  private static final int HAS_ETAG = 1;
  private static final int HAS_VERSION = 2;

  /** The version is {@code "etag:" + etag} (the core's version of a file with an ETag). */
  private static final int VERSION_IS_ETAG = 4;

  private String host = "";
  private int count;
  private long bytes;
  private byte[] files = new byte[0];

  public FileGroupSplit() {}

  /** The host the files belong to ("" for none), or null when nobody owns them. */
  public String host() {
    return host;
  }

  /** Files in the group. */
  public int count() {
    return count;
  }

  /** Their bytes. */
  public long bytes() {
    return bytes;
  }

  /** Not 0 even for a group of empty files: Spark drops empty splits. */
  @Override
  public long getLength() {
    return Math.max(1, bytes);
  }

  @Override
  public String[] getLocations() {
    return host.isEmpty() ? new String[0] : new String[] {host};
  }

  /** Bytes this split holds on the heap for its files. */
  int payloadBytes() {
    return files.length;
  }

  /** The files, decoded: what one native call takes. */
  Files decode() {
    Files f = new Files(count);
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(files))) {
      for (int i = 0; i < count; i++) {
        f.paths[i] = in.readUTF();
        f.lengths[i] = in.readLong();
        int flags = in.readByte();
        f.etags[i] = (flags & HAS_ETAG) != 0 ? in.readUTF() : null;
        if ((flags & VERSION_IS_ETAG) != 0) {
          f.versions[i] = "etag:" + f.etags[i];
        } else {
          f.versions[i] = (flags & HAS_VERSION) != 0 ? in.readUTF() : null;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("corrupt split", e);
    }
    return f;
  }

  /** A group's files as parallel arrays. */
  static final class Files {
    final String[] paths;
    final long[] lengths;
    final String[] etags;
    final String[] versions;

    Files(int n) {
      paths = new String[n];
      lengths = new long[n];
      etags = new String[n];
      versions = new String[n];
    }
  }

  @Override
  public void write(DataOutput out) throws IOException {
    out.writeUTF(host);
    out.writeInt(count);
    out.writeLong(bytes);
    out.writeInt(files.length);
    out.write(files);
  }

  @Override
  public void readFields(DataInput in) throws IOException {
    host = in.readUTF();
    count = in.readInt();
    bytes = in.readLong();
    files = new byte[in.readInt()];
    in.readFully(files);
  }

  @Override
  public String toString() {
    return "FileGroupSplit{" + count + " files, " + bytes + " bytes on " + host + "}";
  }

  /** Collects one group's files until the group is built. */
  static final class Builder {
    private final String host;
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
    private final DataOutputStream out = new DataOutputStream(buf);
    private int count;
    private long bytes;

    Builder(String host) {
      this.host = host;
    }

    int count() {
      return count;
    }

    long bytes() {
      return bytes;
    }

    /** Adds a file by its Shoal path and the length, ETag and version its status lists. */
    void add(String path, long length, String etag, String version) {
      int flags = 0;
      if (etag != null) {
        flags |= HAS_ETAG;
      }
      if (version != null) {
        flags |= etag != null && version.equals("etag:" + etag) ? VERSION_IS_ETAG : HAS_VERSION;
      }
      try {
        out.writeUTF(path);
        out.writeLong(length);
        out.writeByte(flags);
        if (etag != null) {
          out.writeUTF(etag);
        }
        if ((flags & HAS_VERSION) != 0) {
          out.writeUTF(version);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      count++;
      bytes += length;
    }

    FileGroupSplit build() {
      FileGroupSplit s = new FileGroupSplit();
      s.host = host;
      s.count = count;
      s.bytes = bytes;
      s.files = buf.toByteArray();
      return s;
    }
  }

  /** The ETag a Shoal status carries, else null. */
  static String etagOf(FileStatus st) {
    if (st instanceof ShoalLocatedFileStatus) {
      return ((ShoalLocatedFileStatus) st).getEtag();
    }
    return st instanceof ShoalFileStatus ? ((ShoalFileStatus) st).getEtag() : null;
  }

  /** The cache version a Shoal status carries, else null (the store's current one is used). */
  static String versionOf(FileStatus st) {
    if (st instanceof ShoalLocatedFileStatus) {
      return ((ShoalLocatedFileStatus) st).getVersion();
    }
    return st instanceof ShoalFileStatus ? ((ShoalFileStatus) st).getVersion() : null;
  }
}
