package io.shoal.jni;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.apache.hadoop.fs.FSExceptionMessages;

/**
 * A native reader of one file: positioned reads, safe from many threads at once. After {@link
 * #close()} each read throws {@code IOException(FSExceptionMessages.STREAM_IS_CLOSED)}.
 */
public final class NativeReader extends NativeObject {
  private final long length;
  private final String version;

  /** Called by native code ({@code readerOpen}). */
  NativeReader(long handle, long length, String version) {
    super(handle, FSExceptionMessages.STREAM_IS_CLOSED);
    this.length = length;
    this.version = version;
  }

  @Override
  protected void release(long handle) {
    NativeMethods.readerClose(handle);
  }

  /** This stream's counters, named by {@link NativeFs#counterNames()}. */
  public long[] stats() throws IOException {
    long h = pin();
    try {
      return NativeMethods.readerStats(h);
    } finally {
      unpin();
    }
  }

  /** The length of the file as opened. */
  public long length() {
    return length;
  }

  /** The version of the file this reader reads (the store's), or null when it has none. */
  public String version() {
    return version;
  }

  /**
   * Reads up to {@code len} bytes at {@code pos}; fewer only at the end of the file; -1 when {@code
   * pos} is at or past the end. Arguments are the caller's to check.
   */
  public int read(long pos, byte[] buf, int off, int len) throws IOException {
    long h = pin();
    try {
      return NativeMethods.readerRead(h, pos, buf, off, len);
    } finally {
      unpin();
    }
  }

  /**
   * Brings every cached page the ranges {@code (positions[i], lengths[i])} touch into the node
   * cache, fetching the missing ones in parallel, so that reads of those ranges are cache hits.
   * Does nothing when the file's mount is not cached.
   */
  public void prefetch(long[] positions, long[] lengths) throws IOException {
    long h = pin();
    try {
      NativeMethods.readerPrefetch(h, positions, lengths);
    } finally {
      unpin();
    }
  }

  /** As {@link #read} into a direct buffer at absolute index {@code off}; no copy in Java. */
  public int readDirect(long pos, ByteBuffer buf, int off, int len) throws IOException {
    long h = pin();
    try {
      return NativeMethods.readerReadDirect(h, pos, buf, off, len);
    } finally {
      unpin();
    }
  }
}
