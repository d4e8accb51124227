package io.shoal.jni;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A Java owner of one native object: a handle (a pointer to a boxed Rust value) that {@link
 * #release} frees exactly once. {@link #close()} is idempotent and thread-safe; there is no
 * finalizer, so an owner that is never closed leaks its native object.
 *
 * <p>A call into native code holds the handle with {@link #pin()} / {@link #unpin()}. Closing while
 * another thread is inside such a call does not free the object under it: the free is deferred to
 * the last {@link #unpin()}. This matters in Spark, where a task's streams can be closed by a
 * cancelling thread while the task thread is still reading.
 *
 * <p>{@link #call} is that shape for one native call: {@code return call(h ->
 * NativeMethods.fsStatus(h, path));}. Calls on hot paths that return a primitive (reads) write it
 * out, to box nothing:
 *
 * <pre>{@code
 * long h = pin();
 * try {
 *   return NativeMethods.readerRead(h, ...);
 * } finally {
 *   unpin();
 * }
 * }</pre>
 */
public abstract class NativeObject implements AutoCloseable {
  /** The live handle; 0 once closed. */
  private final AtomicLong handle;

  /** Calls in progress that hold the handle. */
  private final AtomicInteger pins = new AtomicInteger();

  /** A handle closed while pinned, freed by the last unpin; 0 when none. */
  private final AtomicLong pendingRelease = new AtomicLong();

  /** What {@link #closedException()} says. */
  private final String closedMessage;

  protected NativeObject(long handle) {
    this(handle, null);
  }

  /**
   * The owner of {@code handle}, whose {@link #pin()} after close throws an {@code IOException}
   * saying {@code closedMessage} (by default, that the class's object is closed).
   */
  protected NativeObject(long handle, String closedMessage) {
    if (handle == 0) {
      throw new IllegalArgumentException("null native handle");
    }
    this.handle = new AtomicLong(handle);
    this.closedMessage =
        closedMessage != null ? closedMessage : getClass().getSimpleName() + " is closed";
  }

  /** Frees the native object; called exactly once per handle. */
  protected abstract void release(long handle);

  /** The exception thrown by {@link #pin()} after close. */
  protected final IOException closedException() {
    return new IOException(closedMessage);
  }

  /** True once {@link #close()} has been called. */
  public final boolean isClosed() {
    return handle.get() == 0;
  }

  /**
   * Returns the handle for one native call, keeping it valid until {@link #unpin()}, which the
   * caller must call (in a finally block) whenever this method returns normally.
   *
   * @throws IOException {@link #closedException()} when closed
   */
  protected final long pin() throws IOException {
    pins.incrementAndGet();
    long h = handle.get();
    if (h == 0) {
      unpin();
      throw closedException();
    }
    return h;
  }

  /** One native call on the handle. */
  protected interface HandleCall<T> {
    T apply(long handle) throws IOException;
  }

  /** Runs one native call with the handle pinned (see the class comment). */
  protected final <T> T call(HandleCall<T> call) throws IOException {
    long h = pin();
    try {
      return call.apply(h);
    } finally {
      unpin();
    }
  }

  /** Ends a call begun with {@link #pin()}. */
  protected final void unpin() {
    if (pins.decrementAndGet() == 0) {
      long h = pendingRelease.get();
      if (h != 0 && pendingRelease.compareAndSet(h, 0)) {
        release(h);
      }
    }
  }

  /**
   * Takes the handle away for a subclass that frees it itself (for instance through a call that can
   * fail and must report it); returns 0 when already closed. Only for objects never used
   * concurrently with their close: the caller must not hold a pin.
   */
  protected final long takeHandle() {
    return handle.getAndSet(0);
  }

  /** Frees the native object, now or after the calls in progress; later calls do nothing. */
  @Override
  public void close() {
    long h = handle.getAndSet(0);
    if (h == 0) {
      return;
    }
    pendingRelease.set(h);
    if (pins.get() == 0 && pendingRelease.compareAndSet(h, 0)) {
      release(h);
    }
  }
}
