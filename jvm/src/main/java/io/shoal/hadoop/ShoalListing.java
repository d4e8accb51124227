package io.shoal.hadoop;

import io.shoal.jni.NativeFileInfo;
import io.shoal.jni.NativeListing;
import java.io.Closeable;
import java.io.IOException;
import java.util.NoSuchElementException;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * The iterator of {@link ShoalFileSystem#listStatusIterator}, {@code listLocatedStatus} and {@code
 * listFiles}: it pages through a native listing, one JNI crossing per batch of at most {@code
 * shoal.list.batch} entries, so that a directory of a million objects is never one array in the
 * JVM nor one list in native memory. It releases the native listing when it reaches the end or an
 * error, or when closed ({@link Closeable}, which Hadoop's {@code
 * RemoteIterators.cleanupRemoteIterator} calls); one dropped half-way keeps its page of native
 * memory until the filesystem's process ends.
 *
 * @param <T> what each entry becomes
 */
final class ShoalListing<T> implements RemoteIterator<T>, Closeable {
  /** Makes an entry; null leaves it out (a path filter). */
  interface Entry<T> {
    T apply(NativeFileInfo info) throws IOException;
  }

  private static final NativeFileInfo[] NONE = new NativeFileInfo[0];

  private final NativeListing listing;
  private final int batch;
  private final Entry<T> entry;
  private final Path path;
  private NativeFileInfo[] page = NONE;
  private int next;
  private T ready;
  private boolean done;

  ShoalListing(NativeListing listing, int batch, Path path, Entry<T> entry) {
    this.listing = listing;
    this.batch = batch;
    this.path = path;
    this.entry = entry;
  }

  @Override
  public boolean hasNext() throws IOException {
    try {
      while (ready == null) {
        if (next < page.length) {
          NativeFileInfo info = page[next];
          page[next++] = null;
          ready = entry.apply(info);
        } else if (done) {
          return false;
        } else {
          page = listing.next(batch);
          next = 0;
          if (page.length == 0) {
            close();
          }
        }
      }
      return true;
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
  }

  @Override
  public T next() throws IOException {
    if (!hasNext()) {
      throw new NoSuchElementException("no more entries in " + path);
    }
    T t = ready;
    ready = null;
    return t;
  }

  /** The batches fetched from native code so far (JNI crossings). */
  int batches() {
    return listing.crossings();
  }

  /** Releases the native listing; entries already fetched are still handed out. */
  @Override
  public void close() {
    done = true;
    listing.close();
  }
}
