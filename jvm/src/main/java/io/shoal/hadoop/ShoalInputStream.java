package io.shoal.hadoop;

import io.shoal.jni.NativeFs;
import io.shoal.jni.NativeReader;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.LongAdder;
import org.apache.hadoop.fs.ByteBufferReadable;
import org.apache.hadoop.fs.CanUnbuffer;
import org.apache.hadoop.fs.FSExceptionMessages;
import org.apache.hadoop.fs.FSInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;

/**
 * A stream over one file of the Shoal namespace. Every read is a positioned read of the native
 * reader, so seeking costs nothing.
 *
 * <ul>
 *   <li>Sequential reads smaller than the buffer ({@code shoal.read.buffer.size}) are served from a
 *       Java-side buffer that is refilled one buffer at a time, so {@code read()} and other small
 *       reads do not cross JNI each time. Larger reads go to native code directly.
 *   <li>Positioned reads ({@code read(pos, ...)}, {@code readFully(pos, ...)}) go to native code
 *       directly, do not move {@link #getPos()}, and may run concurrently from many threads.
 *   <li>{@code read(ByteBuffer)} fills a direct buffer in native code with no Java-side copy, and
 *       so do the positioned {@code read(long, ByteBuffer)} and {@code readFully(long,
 *       ByteBuffer)}.
 * </ul>
 *
 * This class names only the Hadoop 3.2.0 API. Where Hadoop has more, streams are its subclasses
 * (made by {@code HadoopFeatures}): {@code ShoalInputStream33} (Hadoop 3.3.1 and later) is also
 * {@code ByteBufferPositionedReadable} and {@code IOStatisticsSource}, and {@code
 * ShoalInputStream335} (3.3.5 and later) adds {@code readVectored}, which fetches every missing
 * page of all its ranges into the node cache in parallel.
 *
 * <p>Sequential reads, seeks and close are synchronized. Closing while another thread reads is
 * safe: the native reader is freed when the read returns.
 *
 * <p>{@link #counters()} (the stream's {@code IOStatistics} on Hadoop 3.3.1 and later) reports the
 * native core's counters for this stream (cache hits, misses, bytes from memory, disk and store...)
 * plus {@value #BYTES_READ} (bytes returned to the caller) and {@value #NATIVE_READS} (calls into
 * native code); after close, the counts at close.
 */
public class ShoalInputStream extends FSInputStream
    implements ByteBufferReadable, CanUnbuffer, StreamCapabilities {
  /** Counter: bytes this stream returned to its caller. */
  public static final String BYTES_READ = "stream_read_bytes";

  /** Counter: reads that crossed into native code. */
  public static final String NATIVE_READS = "stream_read_native_calls";

  // StreamCapabilities of Hadoop 3.3 (3.2.0 has only UNBUFFER of these).
  static final String READBYTEBUFFER = "in:readbytebuffer";
  static final String PREADBYTEBUFFER = "in:preadbytebuffer";
  static final String IOSTATISTICS = "iostatistics";
  static final String VECTORED_IO = "in:readvectored";

  private final NativeReader reader;
  private final long length;
  private final int bufferSize;
  private final FileSystem.Statistics statistics;
  private final Path path;

  /** The next byte sequential reads return. */
  private long pos;

  /** Buffered bytes of the file from {@link #bufStart}; allocated on first use. */
  private byte[] buf;

  private long bufStart;
  private int bufLen;
  private volatile boolean closed;
  private final LongAdder bytesRead = new LongAdder();
  private final LongAdder nativeReads = new LongAdder();

  /** The counters taken at close. */
  private volatile Map<String, Long> closedCounters;

  /** Use {@code HadoopFeatures.inputStream}, which picks the class for the running Hadoop. */
  ShoalInputStream(
      NativeReader reader, int bufferSize, FileSystem.Statistics statistics, Path path) {
    this.reader = reader;
    this.length = reader.length();
    this.bufferSize = bufferSize;
    this.statistics = statistics;
    this.path = path;
  }

  private void checkOpen() throws IOException {
    if (closed) {
      throw new IOException(FSExceptionMessages.STREAM_IS_CLOSED + ": " + path);
    }
  }

  void checkOpenForRead() throws IOException {
    checkOpen();
  }

  /** The file this stream reads. */
  Path getPath() {
    return path;
  }

  /** Brings the pages of the ranges into the node cache, in parallel; see NativeReader. */
  void prefetch(long[] positions, long[] lengths) throws IOException {
    checkOpen();
    reader.prefetch(positions, lengths);
  }

  private void countRead(int n) {
    if (n > 0) {
      bytesRead.add(n);
      if (statistics != null) {
        statistics.incrementBytesRead(n);
      }
    }
  }

  private int nativeRead(long position, byte[] b, int off, int len) throws IOException {
    nativeReads.increment();
    return reader.read(position, b, off, len);
  }

  /** The length of the file as opened. */
  public long getLength() {
    return length;
  }

  @Override
  public synchronized long getPos() {
    return pos;
  }

  @Override
  public synchronized void seek(long target) throws IOException {
    checkOpen();
    if (target < 0) {
      throw new EOFException(FSExceptionMessages.NEGATIVE_SEEK + " " + target + ": " + path);
    }
    if (target > length) {
      throw new EOFException(
          FSExceptionMessages.CANNOT_SEEK_PAST_EOF + " " + target + " > " + length + ": " + path);
    }
    pos = target;
  }

  @Override
  public boolean seekToNewSource(long targetPos) {
    return false;
  }

  @Override
  public synchronized int available() throws IOException {
    checkOpen();
    return (int) Math.min(Integer.MAX_VALUE, length - pos);
  }

  @Override
  public synchronized long skip(long n) throws IOException {
    checkOpen();
    if (n <= 0) {
      return 0;
    }
    long target = Math.min(length, pos + Math.min(n, length));
    long skipped = Math.max(0, target - pos);
    pos += skipped;
    return skipped;
  }

  private boolean buffered(long p) {
    return buf != null && p >= bufStart && p < bufStart + bufLen;
  }

  /** Refills the buffer at {@link #pos}; false at the end of the file. */
  private boolean fill() throws IOException {
    if (buf == null) {
      buf = new byte[(int) Math.min(bufferSize, Math.max(1, length))];
    }
    int want = (int) Math.min(buf.length, length - pos);
    bufStart = pos;
    bufLen = 0;
    if (want <= 0) {
      return false;
    }
    int n = nativeRead(pos, buf, 0, want);
    if (n <= 0) {
      return false;
    }
    bufLen = n;
    return true;
  }

  @Override
  public synchronized int read() throws IOException {
    checkOpen();
    if (pos >= length) {
      return -1;
    }
    if (!buffered(pos) && !fill()) {
      return -1;
    }
    int b = buf[(int) (pos - bufStart)] & 0xff;
    pos++;
    countRead(1);
    return b;
  }

  @Override
  public synchronized int read(byte[] b, int off, int len) throws IOException {
    checkOpen();
    checkRange(b, off, len);
    if (len == 0) {
      return 0;
    }
    int total = 0;
    while (len > 0 && pos < length) {
      int n;
      if (buffered(pos)) {
        int at = (int) (pos - bufStart);
        n = Math.min(len, bufLen - at);
        System.arraycopy(buf, at, b, off, n);
      } else if (len >= bufferSize) {
        n = nativeRead(pos, b, off, len);
        if (n <= 0) {
          break;
        }
      } else {
        if (!fill()) {
          break;
        }
        continue;
      }
      pos += n;
      off += n;
      len -= n;
      total += n;
    }
    countRead(total);
    return total == 0 ? -1 : total;
  }

  private static void checkRange(byte[] b, int off, int len) {
    if (b == null) {
      throw new NullPointerException("null destination buffer");
    }
    if (off < 0 || len < 0 || len > b.length - off) {
      throw new IndexOutOfBoundsException(
          FSExceptionMessages.TOO_MANY_BYTES_FOR_DEST_BUFFER
              + ": offset "
              + off
              + ", length "
              + len
              + ", buffer "
              + b.length);
    }
  }

  /** Reads into a buffer from {@link #getPos()}; direct buffers are filled in native code. */
  @Override
  public synchronized int read(ByteBuffer dst) throws IOException {
    checkOpen();
    if (dst.isReadOnly()) {
      throw new ReadOnlyBufferException();
    }
    int want = dst.remaining();
    if (want == 0) {
      return 0;
    }
    if (pos >= length) {
      return -1;
    }
    if (dst.hasArray()) {
      int n = read(dst.array(), dst.arrayOffset() + dst.position(), want);
      if (n > 0) {
        dst.position(dst.position() + n);
      }
      return n;
    }
    int n = readInto(pos, dst);
    if (n > 0) {
      pos += n;
    }
    return n;
  }

  /** A positioned read into any buffer, advancing its position; -1 at the end of the file. */
  private int readInto(long position, ByteBuffer dst) throws IOException {
    int want = dst.remaining();
    int n;
    if (dst.isDirect()) {
      nativeReads.increment();
      n = reader.readDirect(position, dst, dst.position(), want);
    } else if (dst.hasArray()) {
      n = nativeRead(position, dst.array(), dst.arrayOffset() + dst.position(), want);
    } else {
      throw new ReadOnlyBufferException();
    }
    if (n > 0) {
      dst.position(dst.position() + n);
      countRead(n);
    }
    return n;
  }

  /** The checks every positioned ByteBuffer read makes first. */
  private void checkPositionedRead(long position, ByteBuffer dst) throws IOException {
    checkOpen();
    if (position < 0) {
      throw new EOFException(FSExceptionMessages.NEGATIVE_SEEK + " " + position + ": " + path);
    }
    if (dst.isReadOnly()) {
      throw new ReadOnlyBufferException();
    }
  }

  /**
   * Reads into {@code dst} from {@code position} of the file, without moving {@link #getPos()}; -1
   * at the end of the file. ({@code ByteBufferPositionedReadable} on Hadoop 3.3.1 and later.)
   */
  public int read(long position, ByteBuffer dst) throws IOException {
    checkPositionedRead(position, dst);
    if (!dst.hasRemaining()) {
      return 0;
    }
    if (position >= length) {
      return -1;
    }
    return readInto(position, dst);
  }

  /**
   * Fills {@code dst} from {@code position} of the file, without moving {@link #getPos()}, or
   * throws {@link EOFException}. ({@code ByteBufferPositionedReadable} on Hadoop 3.3.1 and later.)
   */
  public void readFully(long position, ByteBuffer dst) throws IOException {
    checkPositionedRead(position, dst);
    int want = dst.remaining();
    if (want == 0) {
      return;
    }
    checkWithinFile(position, want);
    int n = readInto(position, dst);
    checkReadFully(position, want, n);
  }

  /** Positioned read: straight to native code; does not move {@link #getPos()}. */
  @Override
  public int read(long position, byte[] b, int off, int len) throws IOException {
    checkOpen();
    checkPositioned(position, b, off, len);
    if (len == 0) {
      return 0;
    }
    if (position >= length) {
      return -1;
    }
    int n = nativeRead(position, b, off, len);
    countRead(n);
    return n;
  }

  @Override
  public void readFully(long position, byte[] b, int off, int len) throws IOException {
    checkOpen();
    checkPositioned(position, b, off, len);
    if (len == 0) {
      return;
    }
    checkWithinFile(position, len);
    int n = nativeRead(position, b, off, len);
    countRead(n);
    checkReadFully(position, len, n);
  }

  /** Throws {@link EOFException} where {@code want} bytes at {@code position} run past the end. */
  private void checkWithinFile(long position, int want) throws EOFException {
    if (position + want > length) {
      throw new EOFException(
          FSExceptionMessages.EOF_IN_READ_FULLY
              + ": reading "
              + want
              + " bytes at "
              + position
              + " of "
              + length
              + ": "
              + path);
    }
  }

  /** Throws {@link EOFException} where a read of {@code want} bytes at {@code position} got n. */
  private void checkReadFully(long position, int want, int n) throws EOFException {
    if (n < want) {
      throw new EOFException(
          FSExceptionMessages.EOF_IN_READ_FULLY
              + ": got "
              + Math.max(n, 0)
              + " of "
              + want
              + " bytes at "
              + position
              + ": "
              + path);
    }
  }

  /** Hadoop's checks, plus a negative offset, which they let through. */
  private void checkPositioned(long position, byte[] b, int off, int len) throws EOFException {
    validatePositionedReadArgs(position, b, off, len);
    if (off < 0) {
      throw new IndexOutOfBoundsException("negative offset " + off + " into the buffer");
    }
  }

  @Override
  public void readFully(long position, byte[] b) throws IOException {
    readFully(position, b, 0, b.length);
  }

  /** Drops the Java-side buffer; the stream stays usable. */
  @Override
  public synchronized void unbuffer() {
    buf = null;
    bufLen = 0;
  }

  @Override
  public boolean hasCapability(String capability) {
    return capability != null && supports(capability.toLowerCase(Locale.ROOT));
  }

  /** Whether this class has a capability (lower case); subclasses add theirs. */
  boolean supports(String capability) {
    switch (capability) {
      case READBYTEBUFFER:
      case StreamCapabilities.UNBUFFER:
        return true;
      default:
        return false;
    }
  }

  /** Frees the native reader (after any read in progress); later calls do nothing. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    closedCounters = snapshot();
    reader.close();
    synchronized (this) {
      buf = null;
      bufLen = 0;
    }
  }

  private Map<String, Long> snapshot() {
    long[] values;
    try {
      values = reader.stats();
    } catch (IOException closedMeanwhile) {
      Map<String, Long> s = closedCounters;
      if (s != null) {
        return s;
      }
      values = new long[0];
    }
    Map<String, Long> m = new TreeMap<>();
    String[] names = NativeFs.counterNames();
    for (int i = 0; i < Math.min(names.length, values.length); i++) {
      m.put(names[i], values[i]);
    }
    m.put(BYTES_READ, bytesRead.sum());
    m.put(NATIVE_READS, nativeReads.sum());
    return Collections.unmodifiableMap(m);
  }

  /**
   * This stream's counters by name: the native core's (cache hits, misses, bytes from memory, disk
   * and store...), {@value #BYTES_READ} and {@value #NATIVE_READS}; after close, as at close.
   */
  public Map<String, Long> counters() {
    Map<String, Long> s = closedCounters;
    return s != null ? s : snapshot();
  }

  @Override
  public String toString() {
    return "ShoalInputStream{" + path + ", pos=" + pos + ", length=" + length + "}";
  }
}
