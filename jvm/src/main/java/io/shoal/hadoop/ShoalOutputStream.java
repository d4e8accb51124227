package io.shoal.hadoop;

import io.shoal.jni.NativeWriter;
import java.io.IOException;
import java.io.OutputStream;
import org.apache.hadoop.fs.FSExceptionMessages;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;

/**
 * Writes one new file. Small writes are gathered in a Java-side buffer ({@code
 * shoal.write.buffer.size}) before they cross JNI. Nothing is visible in the store until {@link
 * #close()}, which commits the file; if a write or the commit fails, the file is not created (or
 * not replaced), and a later close throws instead of committing partial data. {@link #flush()}
 * makes nothing visible, and the stream offers neither hflush nor hsync.
 */
public class ShoalOutputStream extends OutputStream implements StreamCapabilities {
  private final NativeWriter writer;
  private final Path path;
  private byte[] buf;
  private int count;
  private boolean closed;

  /** The first write failure; once set, close aborts instead of committing. */
  private IOException failure;

  public ShoalOutputStream(NativeWriter writer, int bufferSize, Path path) {
    this.writer = writer;
    this.buf = new byte[Math.max(1, bufferSize)];
    this.path = path;
  }

  private void checkOpen() throws IOException {
    if (closed) {
      throw new IOException(FSExceptionMessages.STREAM_IS_CLOSED + ": " + path);
    }
    if (failure != null) {
      throw new IOException("an earlier write to " + path + " failed", failure);
    }
  }

  private void send(byte[] b, int off, int len) throws IOException {
    try {
      writer.write(b, off, len);
    } catch (IOException e) {
      failure = e;
      throw e;
    } catch (RuntimeException e) {
      failure = new IOException(e.toString(), e);
      throw e;
    }
  }

  private void drain() throws IOException {
    if (count > 0) {
      int n = count;
      count = 0;
      send(buf, 0, n);
    }
  }

  @Override
  public synchronized void write(int b) throws IOException {
    checkOpen();
    if (count == buf.length) {
      drain();
    }
    buf[count++] = (byte) b;
  }

  @Override
  public synchronized void write(byte[] b, int off, int len) throws IOException {
    checkOpen();
    if (b == null) {
      throw new NullPointerException("null source buffer");
    }
    if (off < 0 || len < 0 || len > b.length - off) {
      throw new IndexOutOfBoundsException(
          "offset " + off + ", length " + len + ", buffer " + b.length);
    }
    if (len >= buf.length) {
      drain();
      send(b, off, len);
      return;
    }
    if (len > buf.length - count) {
      drain();
    }
    System.arraycopy(b, off, buf, count, len);
    count += len;
  }

  /** Makes nothing visible: data reaches the store when the stream is closed. */
  @Override
  public void flush() {}

  /**
   * Commits the file. A failed commit leaves nothing behind; after an earlier failed write, the
   * data is discarded and this throws. Later calls do nothing.
   */
  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      if (failure != null) {
        throw new IOException("not committing " + path + ": an earlier write failed", failure);
      }
      drain();
    } catch (IOException | RuntimeException e) {
      writer.abort();
      buf = null;
      throw e;
    }
    buf = null;
    writer.commit();
  }

  @Override
  public boolean hasCapability(String capability) {
    return false;
  }

  @Override
  public String toString() {
    return "ShoalOutputStream{" + path + "}";
  }
}
