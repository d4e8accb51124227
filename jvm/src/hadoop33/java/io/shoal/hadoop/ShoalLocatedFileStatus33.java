package io.shoal.hadoop;

import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.EtagSource;

/**
 * {@link ShoalLocatedFileStatus} as Hadoop 3.3.2's {@link EtagSource}. Made by {@code
 * HadoopFeatures} where Hadoop has that interface.
 */
public final class ShoalLocatedFileStatus33 extends ShoalLocatedFileStatus implements EtagSource {
  private static final long serialVersionUID = 1L;

  ShoalLocatedFileStatus33(ShoalFileStatus status, BlockLocation[] locations) {
    super(status, locations);
  }
}
