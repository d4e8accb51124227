package io.shoal.hadoop;

import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.LocatedFileStatus;

/**
 * A {@link LocatedFileStatus} ({@code listFiles}, {@code listLocatedStatus}) that keeps the ETag
 * and cache version of the {@link ShoalFileStatus} it was made from. Where Hadoop has {@code
 * EtagSource} (3.3.2 and later) they are {@code ShoalLocatedFileStatus33}, which implements it;
 * made by {@code HadoopFeatures.locatedStatus}.
 */
public class ShoalLocatedFileStatus extends LocatedFileStatus {
  private static final long serialVersionUID = 1L;

  private final String etag;
  private final String version;

  public ShoalLocatedFileStatus(ShoalFileStatus status, BlockLocation[] locations) {
    super(status, locations);
    this.etag = status.getEtag();
    this.version = status.getVersion();
  }

  /** The store's ETag (or generation) of a file; null for directories and stores without one. */
  public String getEtag() {
    return etag;
  }

  /** The version Shoal caches this file's pages under; null for directories. */
  public String getVersion() {
    return version;
  }

  /** This status without its block locations. */
  public ShoalFileStatus toFileStatus() {
    return HadoopFeatures.fileStatus(
        new ShoalFileStatus(
            getLen(),
            isDirectory(),
            getBlockSize(),
            getModificationTime(),
            getPath(),
            getOwner(),
            etag,
            version));
  }

  @Override
  public boolean equals(Object o) {
    return super.equals(o);
  }

  @Override
  public int hashCode() {
    return super.hashCode();
  }
}
