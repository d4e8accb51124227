package io.shoal.jni;

import java.io.IOException;

/**
 * A native listing in progress ({@link NativeFs#openListing}): each {@link #next} is one JNI
 * crossing that returns the next batch of entries, read from the store as it pages. Close it when
 * done; one that reached its end may be closed at once.
 */
public final class NativeListing extends NativeObject {
  private int crossings;

  NativeListing(long handle) {
    super(handle, "listing closed");
  }

  @Override
  protected void release(long handle) {
    NativeMethods.listingClose(handle);
  }

  /** The next at most {@code max} entries; an empty array once the listing is over. */
  public NativeFileInfo[] next(int max) throws IOException {
    crossings++;
    return call(h -> NativeMethods.listingNext(h, max));
  }

  /** The batches asked for so far (JNI crossings after the one that opened the listing). */
  public int crossings() {
    return crossings;
  }
}
