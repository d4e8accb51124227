package io.shoal.jni;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Every function the native library exports. Handles are pointers to Rust objects owned by the Java
 * object that holds them ({@link NativeObject}); each {@code *Close} frees one exactly once. Paths
 * are absolute Shoal paths ({@code /mount/dir/file}), already stripped of scheme and authority.
 * Errors arrive as the exceptions {@link NativeErrors} maps them to.
 *
 * <p>Callers must load the library first ({@link NativeLibrary#load()}).
 */
public final class NativeMethods {
  private NativeMethods() {}

  /**
   * Sets the most verbose native log level forwarded to the JVM (0 off, 1 error, 2 warn, 3 info, 4
   * debug, 5 trace) and installs the forwarding once per process. See {@link NativeLog}.
   */
  public static native void logInit(int level);

  /**
   * Waits up to {@code timeoutMs} for native log events and returns them as flat triples: level
   * ({@code "1"} error to {@code "5"} trace), target (a Rust module path), message.
   */
  public static native String[] logPoll(long timeoutMs);

  /** Builds a filesystem (mount table, stores) from {@code shoal.*} configuration pairs. */
  public static native long fsOpen(String[] keys, String[] values) throws IOException;

  public static native void fsClose(long fs);

  /** Status of one path; FileNotFoundException when it does not exist. */
  public static native NativeFileInfo fsStatus(long fs, String path) throws IOException;

  /** Entries directly under a directory (or the file itself when {@code path} is a file). */
  public static native NativeFileInfo[] fsList(long fs, String path) throws IOException;

  /**
   * Starts a listing of a directory (with {@code recursive}, of every file under it), read from the
   * store page by page; its first page is read here, so a missing path throws FileNotFoundException
   * here. Returns a handle for {@link #listingNext}, freed by {@link #listingClose}.
   */
  public static native long listingOpen(long fs, String path, boolean recursive) throws IOException;

  /** The next at most {@code max} entries of a listing; an empty array once it is over. */
  public static native NativeFileInfo[] listingNext(long listing, int max) throws IOException;

  public static native void listingClose(long listing);

  /** Creates a directory and its parents; true when it exists as a directory afterwards. */
  public static native boolean fsMkdirs(long fs, String path) throws IOException;

  /**
   * Whether file statuses under the path carry their store's ETag, the same from a listing as from
   * a status request.
   */
  public static native boolean fsEtagsAvailable(long fs, String path) throws IOException;

  /** Deletes a file or directory; false when nothing was there. */
  public static native boolean fsDelete(long fs, String path, boolean recursive) throws IOException;

  /**
   * Renames a file or directory tree; false in the cases Hadoop's rename contract returns false.
   */
  public static native boolean fsRename(long fs, String src, String dst) throws IOException;

  /**
   * Opens a file for positioned reads, in one crossing: the reader comes back with the length and
   * version it reads. With {@code length >= 0} and a {@code version} the caller already knows (from
   * a status), no metadata request is made; otherwise the store's metadata (through the native
   * metadata cache) gives them. A directory is a {@code FileNotFoundException}.
   */
  public static native NativeReader readerOpen(
      long fs, String path, long length, String etag, String version) throws IOException;

  /**
   * Reads up to {@code len} bytes at {@code pos} into {@code buf[off..off+len)}. Returns the number
   * of bytes read, which is {@code len} unless the end of the file comes first, or -1 when {@code
   * pos} is at or past the end.
   */
  public static native int readerRead(long reader, long pos, byte[] buf, int off, int len)
      throws IOException;

  /** As {@link #readerRead} but into a direct buffer at absolute index {@code off}. */
  public static native int readerReadDirect(long reader, long pos, ByteBuffer buf, int off, int len)
      throws IOException;

  public static native void readerClose(long reader);

  /**
   * Brings every cached page the ranges {@code (positions[i], lengths[i])} touch into the node
   * cache, fetching missing pages in parallel; later reads of those ranges are cache hits. Does
   * nothing when the mount is not cached.
   */
  public static native void readerPrefetch(long reader, long[] positions, long[] lengths)
      throws IOException;

  /** This stream's counters, in the order of {@link #statsNames()}. */
  public static native long[] readerStats(long reader);

  /**
   * Sets the executor hosts this process places data on (consistent hashing); reported by the Spark
   * plugin as executors come and go. An empty array clears it.
   */
  public static native void clusterSetHosts(String[] hosts);

  /**
   * The host owning each {@code blockSize} block of a file: from the hosts set by {@link
   * #clusterSetHosts}, else {@code shoal.cluster.hosts}; an empty array when neither is known.
   */
  public static native String[] fsBlockOwners(long fs, String path, long length, long blockSize)
      throws IOException;

  /** This process's counters (all filesystems and streams), for Spark's metrics system. */
  public static native long[] processStats();

  /**
   * {@code [bytes held, capacity]} of the filesystem's cache directories, as all processes on the
   * node share them; zeros when caching is off.
   */
  public static native long[] fsCacheUsage(long fs);

  /**
   * Panics in native code with {@code message}. It exists to prove that a native panic arrives as
   * an {@link IOException} carrying the panic's message and backtrace, and that the JVM goes on.
   */
  public static native void panicForTest(String message) throws IOException;

  /** Names of the counters {@link #fsStats} and {@link #readerStats} return. */
  public static native String[] statsNames();

  /** The filesystem's counters (hits, misses, bytes per tier, requests, evictions...). */
  public static native long[] fsStats(long fs);

  /** Starts writing a file; the data is visible in the store only after {@link #writerClose}. */
  public static native long writerOpen(long fs, String path, boolean overwrite) throws IOException;

  public static native void writerWrite(long writer, byte[] buf, int off, int len)
      throws IOException;

  /** Commits the written data to the store and frees the writer (also on failure). */
  public static native void writerClose(long writer) throws IOException;

  /** Discards the written data and frees the writer. */
  public static native void writerAbort(long writer);

  /**
   * Brings every page of a file into this node's cache; returns the bytes fetched from the store (0
   * when it was all cached, or when the mount is not cached). The version is the one {@code length}
   * and {@code version} name (from a listing) when {@code length >= 0} and {@code version} is not
   * null, else the one the store's metadata reports.
   */
  public static native long fsLoad(long fs, String path, long length, String etag, String version)
      throws IOException;

  /**
   * Brings a Parquet file's footer into this node's cache and parses it (of the version named as
   * for {@link #fsLoad}); returns the bytes fetched from the store. A file that is not Parquet
   * costs its last page.
   */
  public static native long fsLoadFooter(
      long fs, String path, long length, String etag, String version) throws IOException;

  /**
   * Drops a file's pages (of the version named as for {@link #fsLoad}) from this node's cache,
   * memory and disk, leaving the store alone; returns the bytes freed on disk.
   */
  public static native long fsFree(long fs, String path, long length, String etag, String version)
      throws IOException;

  /** Bytes of a file (of the version named as for {@link #fsLoad}) this node's cache holds. */
  public static native long fsCachedBytes(
      long fs, String path, long length, String etag, String version) throws IOException;

  /**
   * Runs one cache operation ({@code op}: 0 load, 1 load footers, 2 free, 3 cached bytes) over many
   * files in parallel, each of the version {@code lengths[i]} and {@code versions[i]} name (from a
   * listing; the store's current one where the version is null), and calls {@code batch.done} on
   * this thread as each file finishes. One file's failure is passed to {@code done} and the others
   * go on.
   */
  public static native void fsFiles(
      long fs,
      int op,
      String[] paths,
      long[] lengths,
      String[] etags,
      String[] versions,
      NativeFs.Batch batch)
      throws IOException;
}
