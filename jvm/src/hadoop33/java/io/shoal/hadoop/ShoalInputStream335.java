package io.shoal.hadoop;

import io.shoal.jni.NativeReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.IntFunction;
import org.apache.hadoop.fs.FileRange;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * {@link ShoalInputStream33} with Hadoop 3.3.5's vectored reads: {@code readVectored} fetches every
 * missing page of all its ranges into the node cache in one parallel request, then fills each range
 * from the cache ({@link ShoalVectoredRead}). Made by {@code HadoopFeatures} where Hadoop has
 * {@link FileRange}.
 */
public final class ShoalInputStream335 extends ShoalInputStream33 {

  ShoalInputStream335(
      NativeReader reader, int bufferSize, FileSystem.Statistics statistics, Path path) {
    super(reader, bufferSize, statistics, path);
  }

  /** Every range's future is complete on return. */
  @Override
  public void readVectored(List<? extends FileRange> ranges, IntFunction<ByteBuffer> allocate)
      throws IOException {
    ShoalVectoredRead.read(this, ranges, allocate);
  }

  @Override
  boolean supports(String capability) {
    return VECTORED_IO.equals(capability) || super.supports(capability);
  }
}
