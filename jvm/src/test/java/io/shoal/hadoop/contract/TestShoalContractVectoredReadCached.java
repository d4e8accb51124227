package io.shoal.hadoop.contract;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.contract.AbstractContractVectoredReadTest;
import org.apache.hadoop.fs.contract.AbstractFSContract;

/**
 * Hadoop's {@code AbstractContractVectoredReadTest} against a local-directory mount with the node
 * cache on ({@code shoal.mount.<name>.cache=true}): each vectored read fetches its pages into the
 * cache in parallel and is served from there.
 */
public class TestShoalContractVectoredReadCached extends AbstractContractVectoredReadTest {
  public TestShoalContractVectoredReadCached(String bufferType) {
    super(bufferType);
  }

  @Override
  protected AbstractFSContract createContract(Configuration conf) {
    return new CachedContract(conf);
  }

  /**
   * {@link ShoalContract} with the mount cached, in 16 KiB pages so the suite's 64 KiB file spans
   * several.
   */
  static final class CachedContract extends ShoalContract {
    private File cacheDir;

    CachedContract(Configuration conf) {
      super(conf);
    }

    @Override
    public void init() throws IOException {
      super.init();
      Configuration conf = new Configuration(getConf());
      conf.set("shoal.mount.root.cache", "true");
      conf.set("shoal.cache.page.size", "16k");
      cacheDir = Files.createTempDirectory("shoal-contract-cache-").toFile();
      conf.set("shoal.cache.dirs", cacheDir.getAbsolutePath() + ":256m");
      // Metadata is not cached: the suite rewrites its file between tests.
      conf.set("shoal.metadata.ttl", "0");
      fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
    }

    @Override
    public void teardown() throws IOException {
      if (fs != null) {
        fs.close();
      }
      if (cacheDir != null) {
        FileUtil.fullyDelete(cacheDir);
      }
      super.teardown();
    }

    @Override
    public Path getTestPath() {
      return new Path("/test-cached");
    }
  }
}
