package io.shoal.hadoop.contract;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.contract.AbstractContractVectoredReadTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;

/**
 * Hadoop's {@code AbstractContractVectoredReadTest} against Shoal's local-directory mount, which is
 * not cached: the prefetch does nothing and every range is a direct read.
 */
public class TestShoalContractVectoredRead extends AbstractContractVectoredReadTest {
  public TestShoalContractVectoredRead(String bufferType) {
    super(bufferType);
  }

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new ShoalContract(conf);
  }
}
