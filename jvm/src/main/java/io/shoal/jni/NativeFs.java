package io.shoal.jni;

import java.io.IOException;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * One native filesystem: the mount table and stores built from {@code shoal.*} configuration. Every
 * method is safe to call from many threads; after {@link #close()} each throws {@code
 * IOException("filesystem closed")}. Readers and writers opened from it stay usable until they are
 * closed themselves.
 */
public final class NativeFs extends NativeObject {
  private NativeFs(long handle) {
    super(handle, "filesystem closed");
  }

  /** Loads the library if needed and builds a filesystem from configuration pairs. */
  public static NativeFs open(Map<String, String> config) throws IOException {
    NativeLibrary.load();
    // On this (Java) thread: the native log level follows the logger's, and the thread that
    // forwards native events runs.
    NativeLog.start();
    String[] keys = new String[config.size()];
    String[] values = new String[config.size()];
    int i = 0;
    for (Map.Entry<String, String> e : config.entrySet()) {
      keys[i] = e.getKey();
      values[i] = e.getValue();
      i++;
    }
    return new NativeFs(NativeMethods.fsOpen(keys, values));
  }

  private static volatile String[] counterNames;

  /**
   * The names of the counters {@link #stats()} and {@link NativeReader#stats()} return, in their
   * order. The library must be loaded.
   */
  public static String[] counterNames() {
    String[] names = counterNames;
    if (names == null) {
      names = NativeMethods.statsNames();
      counterNames = names;
    }
    return names.clone();
  }

  @Override
  protected void release(long handle) {
    NativeMethods.fsClose(handle);
  }

  /**
   * This filesystem's counters (cache hits, misses, bytes per tier...), named by {@link
   * #counterNames()}.
   */
  public long[] stats() throws IOException {
    return call(h -> NativeMethods.fsStats(h));
  }

  public NativeFileInfo status(String path) throws IOException {
    return call(h -> NativeMethods.fsStatus(h, path));
  }

  public NativeFileInfo[] list(String path) throws IOException {
    return call(h -> NativeMethods.fsList(h, path));
  }

  /**
   * A listing of {@code path} (with {@code recursive}, every file under it) handed over in batches,
   * as the store pages, instead of one array of the whole directory. The first page is read here: a
   * missing path throws FileNotFoundException here.
   */
  public NativeListing openListing(String path, boolean recursive) throws IOException {
    return call(h -> new NativeListing(NativeMethods.listingOpen(h, path, recursive)));
  }

  public boolean mkdirs(String path) throws IOException {
    return call(h -> NativeMethods.fsMkdirs(h, path));
  }

  public boolean etagsAvailable(String path) throws IOException {
    return call(h -> NativeMethods.fsEtagsAvailable(h, path));
  }

  public boolean delete(String path, boolean recursive) throws IOException {
    return call(h -> NativeMethods.fsDelete(h, path, recursive));
  }

  public boolean rename(String src, String dst) throws IOException {
    return call(h -> NativeMethods.fsRename(h, src, dst));
  }

  /**
   * Opens a reader in one native call; pass the length and version from a status to skip a metadata
   * request, or -1 and nulls to have the store's metadata give them.
   */
  public NativeReader openReader(String path, long length, String etag, String version)
      throws IOException {
    return call(h -> NativeMethods.readerOpen(h, path, length, etag, version));
  }

  /**
   * Brings a whole file into this node's cache; returns the bytes fetched from the store. With a
   * length and version (from a listing) the pages are those of that version, else of the one the
   * store reports now (as for {@link #openReader}).
   */
  public long load(String path, long length, String etag, String version) throws IOException {
    return call(h -> NativeMethods.fsLoad(h, path, length, etag, version));
  }

  /**
   * Brings a Parquet file's footer into this node's cache and parses it (the version named as for
   * {@link #load}); returns the bytes fetched from the store.
   */
  public long loadFooter(String path, long length, String etag, String version) throws IOException {
    return call(h -> NativeMethods.fsLoadFooter(h, path, length, etag, version));
  }

  /** Drops a file's pages from this node's cache; returns the bytes freed on disk. */
  public long free(String path, long length, String etag, String version) throws IOException {
    return call(h -> NativeMethods.fsFree(h, path, length, etag, version));
  }

  /** Bytes of a file this node's cache holds, in memory or on disk. */
  public long cachedBytes(String path, long length, String etag, String version)
      throws IOException {
    return call(h -> NativeMethods.fsCachedBytes(h, path, length, etag, version));
  }

  public NativeWriter openWriter(String path, boolean overwrite) throws IOException {
    long h = pin();
    try {
      return new NativeWriter(NativeMethods.writerOpen(h, path, overwrite));
    } finally {
      unpin();
    }
  }

  /**
   * The host owning each {@code blockSize} block of a file of {@code length} bytes (consistent
   * hashing over the live hosts, else {@code shoal.cluster.hosts}); empty when no host is known.
   */
  public String[] blockOwners(String path, long length, long blockSize) throws IOException {
    return call(h -> NativeMethods.fsBlockOwners(h, path, length, blockSize));
  }

  /**
   * {@code [bytes held, capacity]} of this filesystem's cache directories (shared by every process
   * on the node); zeros when caching is off.
   */
  public long[] cacheUsage() throws IOException {
    return call(h -> NativeMethods.fsCacheUsage(h));
  }

  /** What {@link #files} does to each file. */
  public enum FileOp {
    /**
     * Brings the whole file into this node's cache: {@code a} bytes cached before, {@code b}
     * fetched.
     */
    LOAD,
    /** Brings and parses a Parquet footer: {@code a} bytes cached before, {@code b} fetched. */
    LOAD_FOOTERS,
    /** Drops the file's pages: {@code a} bytes cached before, {@code b} freed on disk. */
    FREE,
    /** Asks what is cached: {@code a} bytes this node holds, {@code b} 0. */
    CACHED
  }

  /** Told of each file of a {@link #files} call as it finishes, on the calling thread. */
  public interface FileDone {
    /** {@code error} is null when the operation succeeded on file {@code index}. */
    void done(int index, long a, long b, IOException error);
  }

  /**
   * Runs {@code op} over many files in one native call, in parallel ({@code LOAD}: {@code
   * shoal.load.parallel} page fetches in flight across the files), each in the version its listed
   * length, ETag and version name (the store's current one where {@code versions[i]} is null).
   * {@code done} hears of each file as it finishes, on this thread; a file that fails is reported
   * to it and the others go on. Returns when every file has been reported.
   */
  public void files(
      FileOp op, String[] paths, long[] lengths, String[] etags, String[] versions, FileDone done)
      throws IOException {
    files(op, paths, lengths, etags, versions, null, done);
  }

  /**
   * {@link #files}, stopped early once {@code cancelled} answers true: the native call asks it
   * every 20 ms, on this thread (so it may ask Spark whether this thread's task was killed). Then
   * no further file is started and no further page fetched, the fetches in flight finish (each page
   * lands whole or not at all), every file not done is reported to {@code done} with an {@code
   * IOException} whose message ends in "cancelled", and the call returns. A {@code done} that
   * throws cancels the rest too. Null for never.
   */
  public void files(
      FileOp op,
      String[] paths,
      long[] lengths,
      String[] etags,
      String[] versions,
      BooleanSupplier cancelled,
      FileDone done)
      throws IOException {
    Batch batch = new Batch(done, cancelled);
    this.<Void>call(
        h -> {
          NativeMethods.fsFiles(h, op.ordinal(), paths, lengths, etags, versions, batch);
          return null;
        });
  }

  /** What the native side calls back: an error code and message become the mapped exception. */
  static final class Batch {
    private final FileDone done;
    private final BooleanSupplier cancelled;

    Batch(FileDone done, BooleanSupplier cancelled) {
      this.done = done;
      this.cancelled = cancelled;
    }

    /** Asked from native code, on the thread of {@link #files}, while the call runs. */
    boolean cancelled() {
      return cancelled != null && cancelled.getAsBoolean();
    }

    /** Called from native code on the thread of {@link #files}. */
    void done(int index, long a, long b, int errorCode, String message) {
      IOException error = null;
      if (message != null) {
        Throwable t = NativeErrors.create(errorCode, message);
        error = t instanceof IOException ? (IOException) t : new IOException(message, t);
      }
      done.done(index, a, b, error);
    }
  }
}
