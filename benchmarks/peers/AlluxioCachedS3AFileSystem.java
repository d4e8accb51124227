package io.shoal.bench;

import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.ByteBufferReadable;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.s3a.S3AFileSystem;

/**
 * Alluxio's client-side page cache ({@code alluxio.hadoop.LocalCacheFileSystem}, the cache that
 * Presto / Trino embed) over Hadoop S3A, usable as {@code fs.s3a.impl}.
 *
 * <p>LocalCacheFileSystem wraps an already-built FileSystem and has no constructor Hadoop's
 * FileSystem factory can use for S3, so this class supplies one: it builds the S3AFileSystem,
 * initializes it with the same URI and configuration, then lets Alluxio initialize its cache
 * manager from the {@code alluxio.*} keys of that configuration
 * ({@code spark.hadoop.alluxio.user.client.cache.*} in Spark conf). Listing and
 * {@code getFileStatus} go to S3A, reads go through Alluxio's page cache.
 *
 * <p>One adaptation: Alluxio fills a page on a miss with {@code read(ByteBuffer)}, which
 * S3AInputStream does not support ("Byte-buffer read unsupported"), so the streams handed to
 * Alluxio implement it with a plain {@code read(byte[])} of the S3A stream.
 */
public class AlluxioCachedS3AFileSystem extends alluxio.hadoop.LocalCacheFileSystem {
  private final S3AFileSystem s3a;

  public AlluxioCachedS3AFileSystem() {
    this(new S3AFileSystem());
  }

  private AlluxioCachedS3AFileSystem(final S3AFileSystem s3a) {
    super(s3a, status -> new FSDataInputStream(
        new ByteBufferReads(s3a.open(new Path(status.getPath())))));
    this.s3a = s3a;
  }

  @Override
  public synchronized void initialize(URI uri, Configuration conf) throws IOException {
    s3a.initialize(uri, conf);
    super.initialize(uri, conf);
  }

  @Override
  public void close() throws IOException {
    try {
      super.close();
    } finally {
      s3a.close();
    }
  }

  /** An S3A stream that also answers read(ByteBuffer), through a byte[] read. */
  static final class ByteBufferReads extends FSInputStream implements ByteBufferReadable {
    private final FSDataInputStream in;
    private byte[] tmp = new byte[0];

    ByteBufferReads(FSDataInputStream in) {
      this.in = in;
    }

    @Override
    public int read(ByteBuffer buf) throws IOException {
      int want = buf.remaining();
      if (want == 0) {
        return 0;
      }
      if (buf.hasArray()) {
        int n = in.read(buf.array(), buf.arrayOffset() + buf.position(), want);
        if (n > 0) {
          buf.position(buf.position() + n);
        }
        return n;
      }
      if (tmp.length < want) {
        tmp = new byte[want];
      }
      int n = in.read(tmp, 0, want);
      if (n > 0) {
        buf.put(tmp, 0, n);
      }
      return n;
    }

    @Override
    public int read() throws IOException {
      return in.read();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return in.read(b, off, len);
    }

    @Override
    public int read(long position, byte[] b, int off, int len) throws IOException {
      return in.read(position, b, off, len);
    }

    @Override
    public void seek(long pos) throws IOException {
      in.seek(pos);
    }

    @Override
    public long getPos() throws IOException {
      return in.getPos();
    }

    @Override
    public boolean seekToNewSource(long targetPos) throws IOException {
      return false;
    }

    @Override
    public int available() throws IOException {
      return in.available();
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
