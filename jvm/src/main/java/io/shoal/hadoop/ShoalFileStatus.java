package io.shoal.hadoop;

import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;

/**
 * A {@link FileStatus} of the Shoal namespace, carrying the store's ETag and the version Shoal's
 * cache keys the file's pages by. Passing one to {@code openFile(path).withFileStatus(status)}
 * (Hadoop 3.3 and later) opens the file without another metadata request. Where Hadoop has {@code
 * EtagSource} (3.3.2 and later) statuses are {@code ShoalFileStatus33}, which implements it; make
 * them with {@code HadoopFeatures.fileStatus}.
 *
 * <p>Owner and group are the current user; permissions are the Hadoop defaults (directories {@code
 * rwxrwxrwx}, files {@code rw-rw-rw-}); replication is 1. Equality is by path, as for every {@link
 * FileStatus}.
 */
public class ShoalFileStatus extends FileStatus {
  private static final long serialVersionUID = 1L;

  private final String etag;
  private final String version;

  public ShoalFileStatus(
      long length,
      boolean directory,
      long blockSize,
      long modificationTime,
      Path path,
      String owner,
      String etag,
      String version) {
    super(
        directory ? 0 : length,
        directory,
        1,
        blockSize,
        modificationTime,
        0,
        directory ? FsPermission.getDirDefault() : FsPermission.getFileDefault(),
        owner,
        owner,
        path);
    this.etag = etag;
    this.version = version;
  }

  /** A copy of {@code status}: what the subclass for a newer Hadoop is made from. */
  protected ShoalFileStatus(ShoalFileStatus status) {
    this(
        status.getLen(),
        status.isDirectory(),
        status.getBlockSize(),
        status.getModificationTime(),
        status.getPath(),
        status.getOwner(),
        status.etag,
        status.version);
  }

  /** The store's ETag (or generation) of a file; null for directories and stores without one. */
  public String getEtag() {
    return etag;
  }

  /** The version Shoal caches this file's pages under; null for directories. */
  public String getVersion() {
    return version;
  }

  @Override
  public boolean equals(Object o) {
    return super.equals(o);
  }

  @Override
  public int hashCode() {
    return super.hashCode();
  }

  @Override
  public String toString() {
    String s = super.toString();
    return etag == null ? s : s.substring(0, s.length() - 1) + "; etag=" + etag + "}";
  }
}
