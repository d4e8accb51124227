package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.MotoServer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.contract.AbstractContractVectoredReadTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;
import org.junit.ClassRule;

/**
 * Hadoop's {@code AbstractContractVectoredReadTest} against Shoal over S3 (moto). Mounts of S3 are
 * cached: each vectored read is one parallel fetch of the missing pages, then reads from the node
 * cache.
 */
public class TestShoalS3ContractVectoredRead extends AbstractContractVectoredReadTest {
  @ClassRule public static final MotoServer S3 = new MotoServer();

  public TestShoalS3ContractVectoredRead(String bufferType) {
    super(bufferType);
  }

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new ShoalS3Contract(conf, S3);
  }
}
