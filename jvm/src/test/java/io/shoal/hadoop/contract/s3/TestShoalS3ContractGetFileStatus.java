package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.MotoServer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.contract.AbstractContractGetFileStatusTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;
import org.junit.ClassRule;

/** Hadoop's {@code AbstractContractGetFileStatusTest} against Shoal over S3 (moto). */
public class TestShoalS3ContractGetFileStatus extends AbstractContractGetFileStatusTest {
  @ClassRule public static final MotoServer S3 = new MotoServer();

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new ShoalS3Contract(conf, S3);
  }
}
