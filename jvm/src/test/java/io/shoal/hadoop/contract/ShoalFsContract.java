package io.shoal.hadoop.contract;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.contract.AbstractFSContract;

/**
 * What Shoal's contracts share: the {@code shoal} scheme, a test path of {@code /test}, the
 * resource that says what the mount supports, and the FileSystem that {@code init} makes.
 */
public abstract class ShoalFsContract extends AbstractFSContract {
  protected FileSystem fs;

  protected ShoalFsContract(Configuration conf, String contractXml) {
    super(conf);
    addConfResource(contractXml);
  }

  @Override
  public FileSystem getTestFileSystem() {
    return fs;
  }

  @Override
  public String getScheme() {
    return "shoal";
  }

  @Override
  public Path getTestPath() {
    return new Path("/test");
  }
}
