package io.shoal.jni;

/**
 * What the native core knows of one entry of the Shoal namespace. Built by the native side (through
 * the constructor below, whose signature the JNI bridge relies on) and turned into a Hadoop {@code
 * FileStatus} by the filesystem.
 */
public final class NativeFileInfo {
  /** Absolute Shoal path, e.g. {@code /datasets/imagenet/train/0001.jpg}. */
  public final String path;

  public final boolean directory;

  /** Length in bytes; 0 for directories. */
  public final long length;

  /** Modification time in milliseconds since the epoch; 0 when the store does not say. */
  public final long modificationTime;

  /** The store's ETag (or generation) for a file, null when the store has none. */
  public final String etag;

  /** The version the cache keys pages by (ETag, generation, or length + mtime); null for dirs. */
  public final String version;

  public NativeFileInfo(
      String path,
      boolean directory,
      long length,
      long modificationTime,
      String etag,
      String version) {
    this.path = path;
    this.directory = directory;
    this.length = length;
    this.modificationTime = modificationTime;
    this.etag = etag;
    this.version = version;
  }

  @Override
  public String toString() {
    return (directory ? "dir " : "file ") + path + (directory ? "" : " (" + length + " bytes)");
  }
}
