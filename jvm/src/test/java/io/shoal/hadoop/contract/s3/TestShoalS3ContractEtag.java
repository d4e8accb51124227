package io.shoal.hadoop.contract.s3;

import io.shoal.hadoop.MotoServer;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.contract.AbstractContractEtagTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;
import org.junit.ClassRule;

/**
 * Hadoop's {@code AbstractContractEtagTest} against Shoal over S3 (moto, whose listings carry ETags
 * as S3's do). The rename case is skipped by the suite itself: Shoal does not claim {@code
 * fs.capability.etags.preserved.in.rename}, since an object store's rename is a copy.
 */
public class TestShoalS3ContractEtag extends AbstractContractEtagTest {
  @ClassRule public static final MotoServer S3 = new MotoServer();

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new ShoalS3Contract(conf, S3);
  }
}
