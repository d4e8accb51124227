package io.shoal.hadoop;

import java.io.IOException;
import java.util.Collections;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.impl.OpenFileParameters;
import org.apache.hadoop.fs.statistics.IOStatistics;
import org.apache.hadoop.fs.statistics.IOStatisticsSource;

/**
 * {@link ShoalFileSystem} with Hadoop 3.3.1's filesystem interfaces, which {@code shoal://} maps to
 * on Hadoop 3.3.1 and later ({@link SchemeRegistration}):
 *
 * <ul>
 *   <li>{@link IOStatisticsSource}: the native core's counters for this filesystem and every stream
 *       it opened (cache hits, misses, bytes from memory, disk and store, requests, evictions...);
 *       after close, the values at close.
 *   <li>{@code openFile()}: with {@code withFileStatus} of a status this filesystem returned, the
 *       file opens without a metadata request. Options {@code fs.option.openfile.*} are accepted;
 *       other mandatory options are rejected with IllegalArgumentException.
 * </ul>
 */
public class ShoalFileSystem33 extends ShoalFileSystem implements IOStatisticsSource {

  @Override
  public IOStatistics getIOStatistics() {
    return ShoalIOStatistics.of(counters());
  }

  @Override
  protected CompletableFuture<FSDataInputStream> openFileWithOptions(
      Path path, OpenFileParameters parameters) throws IOException {
    Set<String> mandatory =
        parameters.getMandatoryKeys() == null
            ? Collections.<String>emptySet()
            : parameters.getMandatoryKeys();
    for (String key : mandatory) {
      if (!key.startsWith(OPENFILE_OPTION_PREFIX)) {
        throw new IllegalArgumentException("unknown mandatory key for " + path + ": " + key);
      }
    }
    CompletableFuture<FSDataInputStream> result = new CompletableFuture<>();
    try {
      result.complete(openWithStatus(path, parameters.getStatus(), parameters.getBufferSize()));
    } catch (IOException | RuntimeException e) {
      result.completeExceptionally(e);
    }
    return result;
  }
}
