package io.shoal.hadoop;

import io.shoal.jni.NativeFileInfo;
import io.shoal.jni.NativeListing;
import java.io.Closeable;
import java.io.IOException;
import java.lang.ref.PhantomReference;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

/**
 * The iterator of {@link ShoalFileSystem#listStatusIterator}, {@code listLocatedStatus} and {@code
 * listFiles}: it pages through a native listing, one JNI crossing per batch of at most {@code
 * shoal.list.batch} entries, so that a directory of a million objects is never one array in the JVM
 * nor one list in native memory. It releases the native listing when it reaches the end or an
 * error, or when closed ({@link Closeable}, which Hadoop's {@code
 * RemoteIterators.cleanupRemoteIterator} calls). One dropped half-way is released once the garbage
 * collector has found it, by the next listing made in the process (no finalizer, no thread).
 *
 * @param <T> what each entry becomes
 */
final class ShoalListing<T> implements RemoteIterator<T>, Closeable {
  /** Makes an entry; null leaves it out (a path filter). */
  interface Entry<T> {
    T apply(NativeFileInfo info) throws IOException;
  }

  private static final NativeFileInfo[] NONE = new NativeFileInfo[0];

  /** Iterators the garbage collector found unreachable, their native listings still open. */
  private static final ReferenceQueue<ShoalListing<?>> DROPPED = new ReferenceQueue<>();

  /** The trackers of open listings (a tracker must stay reachable to be enqueued). */
  private static final Set<Tracker> OPEN = ConcurrentHashMap.newKeySet();

  /** Closes the native listing of an iterator that was dropped without being closed. */
  private static final class Tracker extends PhantomReference<ShoalListing<?>> {
    final NativeListing listing;

    Tracker(ShoalListing<?> owner, NativeListing listing) {
      super(owner, DROPPED);
      this.listing = listing;
    }
  }

  /** Releases the native listings of iterators dropped half-way. */
  static void releaseDropped() {
    Reference<? extends ShoalListing<?>> r;
    while ((r = DROPPED.poll()) != null) {
      Tracker t = (Tracker) r;
      OPEN.remove(t);
      t.listing.close();
    }
  }

  /** Native listings of iterators neither finished nor closed (nor yet released as dropped). */
  static int open() {
    return OPEN.size();
  }

  private final Tracker tracker;

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
    releaseDropped();
    this.tracker = new Tracker(this, listing);
    OPEN.add(tracker);
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
    OPEN.remove(tracker);
  }
}
