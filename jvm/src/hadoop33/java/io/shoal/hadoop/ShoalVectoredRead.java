package io.shoal.hadoop;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.IntFunction;
import org.apache.hadoop.fs.FSExceptionMessages;
import org.apache.hadoop.fs.FileRange;

/**
 * {@link ShoalInputStream335#readVectored} (Hadoop 3.3.5 and later, which added {@link FileRange}).
 *
 * <p>The ranges are checked (a negative length is an IllegalArgumentException, a negative offset an
 * EOFException, both thrown), sorted, and merged where they lie within {@value #MERGE_GAP} bytes of
 * each other and span at most {@value #MAX_MERGED} bytes together. One native call then brings
 * every page of every range into the node cache, fetching the missing ones in parallel ({@code
 * readerPrefetch}); each merged range is then read with one positioned read (a cache hit on a
 * cached mount) into the buffers {@code allocate} gives. A range that ends past the end of the file
 * completes with an EOFException; a failed read completes its ranges exceptionally. Every future is
 * complete when {@code readVectored} returns.
 */
final class ShoalVectoredRead {
  /** Ranges closer than this are read as one. */
  static final int MERGE_GAP = 4 << 10;

  /** The largest span merged ranges may cover. */
  static final int MAX_MERGED = 1 << 20;

  private ShoalVectoredRead() {}

  /** Ranges read with one positioned read: sorted, within {@link #MAX_MERGED} bytes. */
  private static final class Group {
    final long start;
    long end;
    final List<FileRange> ranges = new ArrayList<>();

    Group(FileRange first) {
      start = first.getOffset();
      end = first.getOffset() + first.getLength();
      ranges.add(first);
    }

    boolean tryAdd(FileRange r) {
      long rEnd = r.getOffset() + r.getLength();
      long newEnd = Math.max(end, rEnd);
      if (r.getOffset() > end + MERGE_GAP || newEnd - start > MAX_MERGED) {
        return false;
      }
      end = newEnd;
      ranges.add(r);
      return true;
    }
  }

  static void read(
      ShoalInputStream in, List<? extends FileRange> ranges, IntFunction<ByteBuffer> allocate)
      throws IOException {
    in.checkOpenForRead();
    if (ranges == null || allocate == null) {
      throw new NullPointerException("null ranges or allocator");
    }
    for (FileRange r : ranges) {
      if (r == null) {
        throw new NullPointerException("null range in " + ranges);
      }
      if (r.getLength() < 0) {
        throw new IllegalArgumentException("negative length in range " + r);
      }
      if (r.getOffset() < 0) {
        throw new EOFException(FSExceptionMessages.NEGATIVE_SEEK + " in range " + r);
      }
    }
    long length = in.getLength();
    List<FileRange> readable = new ArrayList<>(ranges.size());
    for (FileRange r : ranges) {
      CompletableFuture<ByteBuffer> data = new CompletableFuture<>();
      r.setData(data);
      if (r.getOffset() + r.getLength() > length) {
        data.completeExceptionally(
            new EOFException(
                FSExceptionMessages.EOF_IN_READ_FULLY
                    + ": range "
                    + r
                    + " ends past the end of the file ("
                    + length
                    + " bytes): "
                    + in.getPath()));
      } else if (r.getLength() == 0) {
        ByteBuffer b = allocate.apply(0);
        b.flip();
        data.complete(b);
      } else {
        readable.add(r);
      }
    }
    if (readable.isEmpty()) {
      return;
    }
    readable.sort(Comparator.comparingLong(FileRange::getOffset));
    List<Group> groups = new ArrayList<>();
    for (FileRange r : readable) {
      if (groups.isEmpty() || !groups.get(groups.size() - 1).tryAdd(r)) {
        groups.add(new Group(r));
      }
    }
    long[] positions = new long[groups.size()];
    long[] lengths = new long[groups.size()];
    for (int i = 0; i < groups.size(); i++) {
      positions[i] = groups.get(i).start;
      lengths[i] = groups.get(i).end - groups.get(i).start;
    }
    try {
      in.prefetch(positions, lengths);
    } catch (IOException | RuntimeException e) {
      for (FileRange r : readable) {
        r.getData().completeExceptionally(e);
      }
      return;
    }
    for (Group g : groups) {
      try {
        if (g.ranges.size() == 1) {
          readOne(in, g.ranges.get(0), allocate);
        } else {
          readMerged(in, g, allocate);
        }
      } catch (IOException | RuntimeException e) {
        for (FileRange r : g.ranges) {
          r.getData().completeExceptionally(e);
        }
      }
    }
  }

  /** A buffer from {@code allocate} with room for exactly {@code len} bytes. */
  private static ByteBuffer buffer(IntFunction<ByteBuffer> allocate, int len) {
    ByteBuffer b = allocate.apply(len);
    b.limit(b.position() + len);
    return b;
  }

  /** One range straight into its buffer (a direct buffer is filled in native code). */
  private static void readOne(ShoalInputStream in, FileRange r, IntFunction<ByteBuffer> allocate)
      throws IOException {
    ByteBuffer b = buffer(allocate, r.getLength());
    in.readFully(r.getOffset(), b);
    b.flip();
    r.getData().complete(b);
  }

  /** Several ranges with one read of their span, copied into their buffers. */
  private static void readMerged(ShoalInputStream in, Group g, IntFunction<ByteBuffer> allocate)
      throws IOException {
    byte[] span = new byte[(int) (g.end - g.start)];
    in.readFully(g.start, span, 0, span.length);
    for (FileRange r : g.ranges) {
      ByteBuffer b = buffer(allocate, r.getLength());
      b.put(span, (int) (r.getOffset() - g.start), r.getLength());
      b.flip();
      r.getData().complete(b);
    }
  }
}
