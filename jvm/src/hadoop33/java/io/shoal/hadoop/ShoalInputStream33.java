package io.shoal.hadoop;

import io.shoal.jni.NativeReader;
import org.apache.hadoop.fs.ByteBufferPositionedReadable;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.statistics.IOStatistics;
import org.apache.hadoop.fs.statistics.IOStatisticsSource;

/**
 * {@link ShoalInputStream} with Hadoop 3.3.1's stream interfaces: {@link
 * ByteBufferPositionedReadable} (positioned reads into any buffer, a direct one filled in native
 * code) and {@link IOStatisticsSource} (the stream's counters, {@link
 * ShoalInputStream#counters()}). Made by {@code HadoopFeatures} where Hadoop has both; {@link
 * ShoalInputStream335} adds vectored reads.
 */
public class ShoalInputStream33 extends ShoalInputStream
    implements ByteBufferPositionedReadable, IOStatisticsSource {

  ShoalInputStream33(
      NativeReader reader, int bufferSize, FileSystem.Statistics statistics, Path path) {
    super(reader, bufferSize, statistics, path);
  }

  @Override
  boolean supports(String capability) {
    switch (capability) {
      case PREADBYTEBUFFER:
      case IOSTATISTICS:
        return true;
      default:
        return super.supports(capability);
    }
  }

  /** This stream's counters now; after close, as they were at close. */
  @Override
  public IOStatistics getIOStatistics() {
    return ShoalIOStatistics.of(counters());
  }
}
