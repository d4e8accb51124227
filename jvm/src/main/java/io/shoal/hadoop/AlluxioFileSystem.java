package io.shoal.hadoop;

/**
 * Shoal under the {@code alluxio://} scheme, so jobs written for Alluxio run unchanged: {@code
 * alluxio://master:19998/a/b} names the Shoal path {@code /a/b}; the authority is kept in the URI
 * but no master is contacted. Configuration is the same {@code shoal.*} keys as {@link
 * ShoalFileSystem}.
 */
public class AlluxioFileSystem extends ShoalFileSystem {
  public static final String SCHEME = "alluxio";

  @Override
  public String getScheme() {
    return SCHEME;
  }
}
