package io.shoal.hadoop;

import org.apache.hadoop.fs.EtagSource;

/**
 * {@link ShoalFileStatus} as Hadoop 3.3.2's {@link EtagSource}. Made by {@code HadoopFeatures}
 * where Hadoop has that interface.
 */
public final class ShoalFileStatus33 extends ShoalFileStatus implements EtagSource {
  private static final long serialVersionUID = 1L;

  ShoalFileStatus33(ShoalFileStatus status) {
    super(status);
  }
}
