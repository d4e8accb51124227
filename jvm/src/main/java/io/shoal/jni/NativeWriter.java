package io.shoal.jni;

import java.io.IOException;
import org.apache.hadoop.fs.FSExceptionMessages;

/**
 * A native writer of one new file. Not for concurrent use. {@link #commit()} makes the data visible
 * and {@link #close()} (or {@link #abort()}) discards it; either frees the writer, and whichever
 * comes first wins.
 */
public final class NativeWriter extends NativeObject {
  NativeWriter(long handle) {
    super(handle, FSExceptionMessages.STREAM_IS_CLOSED);
  }

  /** Frees an uncommitted writer: its data is discarded. */
  @Override
  protected void release(long handle) {
    NativeMethods.writerAbort(handle);
  }

  public void write(byte[] buf, int off, int len) throws IOException {
    long h = pin();
    try {
      NativeMethods.writerWrite(h, buf, off, len);
    } finally {
      unpin();
    }
  }

  /** Commits the data to the store; the writer is freed whether or not this succeeds. */
  public void commit() throws IOException {
    long h = takeHandle();
    if (h == 0) {
      throw closedException();
    }
    NativeMethods.writerClose(h);
  }

  /** Discards the data; does nothing once committed or aborted. */
  public void abort() {
    close();
  }
}
