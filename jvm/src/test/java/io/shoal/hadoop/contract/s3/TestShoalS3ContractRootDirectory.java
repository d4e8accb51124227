package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.MotoServer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.contract.AbstractContractRootDirectoryTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;
import org.junit.ClassRule;

/**
 * Hadoop's {@code AbstractContractRootDirectoryTest} against Shoal over S3 (moto). It deletes
 * everything under the root: the store is the suite's own moto server, thrown away after it.
 */
public class TestShoalS3ContractRootDirectory extends AbstractContractRootDirectoryTest {
  @ClassRule public static final MotoServer S3 = new MotoServer();

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new ShoalS3Contract(conf, S3);
  }
}
