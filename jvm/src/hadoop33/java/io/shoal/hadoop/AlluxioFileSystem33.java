package io.shoal.hadoop;

/**
 * {@link AlluxioFileSystem} on Hadoop 3.3.1 and later: {@link ShoalFileSystem33} under the {@code
 * alluxio://} scheme.
 */
public class AlluxioFileSystem33 extends ShoalFileSystem33 {
  @Override
  public String getScheme() {
    return AlluxioFileSystem.SCHEME;
  }
}
