package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.S3Server;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.contract.AbstractContractSeekTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;
import org.junit.ClassRule;

/** Hadoop's {@code AbstractContractSeekTest} against Shoal over S3. */
public class TestShoalS3ContractSeek extends AbstractContractSeekTest {
  @ClassRule public static final S3Server S3 = new S3Server();

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new ShoalS3Contract(conf, S3);
  }
}
