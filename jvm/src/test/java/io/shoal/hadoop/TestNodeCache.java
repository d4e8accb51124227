package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.randomBytes;
import static io.shoal.hadoop.TestSupport.readAll;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import io.shoal.jni.NativeFs;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileRange;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.GlobalStorageStatistics;
import org.apache.hadoop.fs.Options;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StorageStatistics;
import org.apache.hadoop.fs.StreamCapabilities;
import org.apache.log4j.AppenderSkeleton;
import org.apache.log4j.Level;
import org.apache.log4j.Logger;
import org.apache.log4j.spi.LoggingEvent;
import org.junit.After;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TestName;

/**
 * The node cache through the Hadoop API over a real S3 server: what a second reader of the same
 * data is served from, what {@code getStorageStatistics()} reports, freshness after an overwrite,
 * and the summary {@code close()} logs. Each test works under {@code /s3/<test name>}.
 */
public class TestNodeCache {
  private static final String BUCKET = "node-cache";

  @ClassRule public static final S3Server S3 = new S3Server();

  @Rule public TestName name = new TestName();

  private final List<FileSystem> opened = new ArrayList<>();

  @After
  public void tearDown() throws IOException {
    for (FileSystem fs : opened) {
      fs.close();
    }
  }

  private Configuration s3conf() {
    S3.bucket(BUCKET);
    return S3.mount(conf(), "s3", "/s3", BUCKET + "/data");
  }

  /** A new instance (never Hadoop's cached one), closed after the test. */
  private FileSystem newFs(Configuration conf) throws IOException {
    FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
    opened.add(fs);
    return fs;
  }

  private Path path(String child) {
    return new Path("/s3/" + name.getMethodName() + "/" + child);
  }

  private static void put(FileSystem fs, Path path, byte[] data) throws IOException {
    try (FSDataOutputStream out = fs.create(path, true)) {
      out.write(data);
    }
  }

  private static byte[] get(FileSystem fs, Path path) throws IOException {
    try (FSDataInputStream in = fs.open(path)) {
      return readAll(in);
    }
  }

  private static Map<String, Long> stats(FileSystem fs) {
    Map<String, Long> out = new HashMap<>();
    Iterator<StorageStatistics.LongStatistic> it = fs.getStorageStatistics().getLongStatistics();
    while (it.hasNext()) {
      StorageStatistics.LongStatistic s = it.next();
      out.put(s.getName(), s.getValue());
    }
    return out;
  }

  private static long delta(Map<String, Long> after, Map<String, Long> before, String name) {
    return after.get(name) - before.get(name);
  }

  @Test
  public void aSecondFileSystemReadsEveryByteFromTheNodeCache() throws IOException {
    byte[] data = randomBytes((5 << 20) + 12345, 1);
    Configuration conf = s3conf();
    FileSystem first = newFs(conf);
    put(first, path("f.bin"), data);
    assertArrayEquals(data, get(first, path("f.bin")));
    Map<String, Long> s1 = stats(first);
    assertEquals(data.length, (long) s1.get("bytes_from_store"));
    assertThat(s1.get("store_get_requests")).isPositive();
    first.close();

    // Another filesystem of the same process: the memory tier and the disk pages are shared.
    FileSystem second = newFs(conf);
    assertArrayEquals(data, get(second, path("f.bin")));
    Map<String, Long> s2 = stats(second);
    assertEquals(0, (long) s2.get("store_get_requests"));
    assertEquals(0, (long) s2.get("bytes_from_store"));
    assertEquals(0, (long) s2.get("cache_misses"));
    assertEquals(data.length, s2.get("bytes_from_memory") + s2.get("bytes_from_disk"));

    // Without a memory tier (as a new process would be), every byte comes from the disk pages.
    Configuration diskOnly = new Configuration(conf);
    diskOnly.set("shoal.cache.memory.size", "0");
    FileSystem third = newFs(diskOnly);
    assertArrayEquals(data, get(third, path("f.bin")));
    Map<String, Long> s3 = stats(third);
    assertEquals(0, (long) s3.get("store_get_requests"));
    assertEquals(0, (long) s3.get("bytes_from_memory"));
    assertEquals(data.length, (long) s3.get("bytes_from_disk"));
    assertThat(s3.get("cache_hits")).isPositive();
  }

  @Test
  public void cacheThroughWritesAreReadBackWithoutTheStore() throws IOException {
    byte[] data = randomBytes((3 << 20) + 777, 11);
    Configuration conf = s3conf();
    conf.set("shoal.mount.s3.write", "cache-through");
    conf.set("shoal.cache.memory.size", "0");
    FileSystem fs = newFs(conf);
    put(fs, path("written.bin"), data);
    // Read back by another filesystem: the store has the file, and the node cache its pages.
    FileSystem reader = newFs(conf);
    assertArrayEquals(data, get(reader, path("written.bin")));
    Map<String, Long> s = stats(reader);
    assertEquals(0, (long) s.get("store_get_requests"));
    assertEquals(data.length, (long) s.get("bytes_from_disk"));

    // The default, through, leaves the cache alone: the first read goes to the store.
    Configuration through = s3conf();
    through.set("shoal.cache.memory.size", "0");
    FileSystem plain = newFs(through);
    put(plain, path("through.bin"), data);
    assertArrayEquals(data, get(plain, path("through.bin")));
    assertEquals(data.length, (long) stats(plain).get("bytes_from_store"));
  }

  @Test
  public void anObjectOverwrittenInTheStoreIsReadAfresh() throws IOException {
    Configuration conf = s3conf();
    conf.set("shoal.metadata.ttl", "0");
    FileSystem reader = newFs(conf);
    FileSystem writer = newFs(conf);
    byte[] v1 = randomBytes(3 << 20, 2);
    byte[] v2 = randomBytes(3 << 20, 3);
    put(writer, path("o.bin"), v1);
    assertArrayEquals(v1, get(reader, path("o.bin")));
    assertArrayEquals(v1, get(reader, path("o.bin")));
    long fromStore = stats(reader).get("bytes_from_store");
    assertEquals(v1.length, fromStore);

    // Same length, other bytes, written by another filesystem: the reader's cache cannot know.
    // s3s-fs lists without ETags, so versions are length + mtime in whole seconds (README):
    // the overwrite lands in a later second.
    sleepPastTheSecond();
    put(writer, path("o.bin"), v2);
    assertArrayEquals(v2, get(reader, path("o.bin")));
    assertEquals(fromStore + v2.length, (long) stats(reader).get("bytes_from_store"));
  }

  private static void sleepPastTheSecond() {
    try {
      Thread.sleep(1100);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  public void storageStatisticsFollowTheReads() throws IOException {
    FileSystem fs = newFs(s3conf());
    StorageStatistics st = fs.getStorageStatistics();
    assertNotNull(st);
    assertEquals("shoal", st.getScheme());
    for (String n : NativeFs.counterNames()) {
      assertTrue(n, st.isTracked(n));
    }
    assertThat(NativeFs.counterNames())
        .contains(
            "cache_hits",
            "cache_misses",
            "bytes_from_memory",
            "bytes_from_disk",
            "bytes_from_store",
            "store_get_requests",
            "store_metadata_requests",
            "readahead_pages",
            "evictions",
            "corrupt_pages",
            "metadata_hits",
            "metadata_misses");
    assertEquals(null, st.getLong("no_such_counter"));
    assertEquals(Long.valueOf(0), st.getLong("cache_hits"));

    byte[] data = randomBytes(3 << 20, 4);
    put(fs, path("s.bin"), data);
    Map<String, Long> before = stats(fs);
    assertArrayEquals(data, get(fs, path("s.bin")));
    Map<String, Long> cold = stats(fs);
    assertEquals(data.length, delta(cold, before, "bytes_from_store"));
    assertThat(delta(cold, before, "cache_misses")).isEqualTo(3);
    assertThat(delta(cold, before, "store_get_requests")).isEqualTo(3);
    assertEquals(1, delta(cold, before, "store_metadata_requests"));

    assertArrayEquals(data, get(fs, path("s.bin")));
    Map<String, Long> warm = stats(fs);
    assertEquals(0, delta(warm, cold, "bytes_from_store"));
    assertEquals(0, delta(warm, cold, "store_get_requests"));
    assertEquals(0, delta(warm, cold, "cache_misses"));
    assertThat(delta(warm, cold, "cache_hits")).isGreaterThanOrEqualTo(3);
    assertEquals(
        data.length, delta(warm, cold, "bytes_from_memory") + delta(warm, cold, "bytes_from_disk"));
    assertEquals(1, delta(warm, cold, "metadata_hits"));

    // The process-wide statistics count every filesystem's.
    StorageStatistics global = GlobalStorageStatistics.INSTANCE.get(ShoalStorageStatistics.NAME);
    assertNotNull(global);
    assertThat(global.getLong("bytes_from_store")).isGreaterThanOrEqualTo(data.length);

    st.reset();
    assertEquals(Long.valueOf(0), st.getLong("cache_hits"));
    assertArrayEquals(data, get(fs, path("s.bin")));
    assertThat(st.getLong("cache_hits")).isGreaterThanOrEqualTo(3);

    long hits = st.getLong("cache_hits");
    fs.close();
    assertEquals(Long.valueOf(hits), st.getLong("cache_hits"));
  }

  @Test
  public void openFileWithStatusMakesNoMetadataRequest() throws Exception {
    Configuration conf = s3conf();
    conf.set("shoal.metadata.ttl", "0");
    FileSystem fs = newFs(conf);
    byte[] data = randomBytes(100_000, 5);
    put(fs, path("w.bin"), data);
    FileStatus status = fs.getFileStatus(path("w.bin"));
    Map<String, Long> before = stats(fs);
    try (FSDataInputStream in = fs.openFile(path("w.bin")).withFileStatus(status).build().get()) {
      assertArrayEquals(data, readAll(in));
    }
    assertEquals(0, delta(stats(fs), before, "store_metadata_requests"));
  }

  /** {@code openFile} with the length as the only thing the caller says about the file. */
  private static FSDataInputStream openWithLength(FileSystem fs, Path p, long length)
      throws Exception {
    return fs.openFile(p)
        .opt(Options.OpenFileOptions.FS_OPTION_OPENFILE_LENGTH, Long.toString(length))
        .build()
        .get();
  }

  /** A length alone cannot identify the object's version, but the metadata cache answers. */
  @Test
  public void openFileWithLengthAfterStatusUsesTheMetadataCache() throws Exception {
    FileSystem fs = newFs(s3conf());
    byte[] data = randomBytes(100_000, 6);
    put(fs, path("l.bin"), data);
    assertEquals(data.length, fs.getFileStatus(path("l.bin")).getLen());
    Map<String, Long> before = stats(fs);
    try (FSDataInputStream in = openWithLength(fs, path("l.bin"), data.length)) {
      assertArrayEquals(data, readAll(in));
    }
    Map<String, Long> after = stats(fs);
    assertEquals(0, delta(after, before, "store_metadata_requests"));
    assertThat(delta(after, before, "metadata_hits")).isPositive();
  }

  /**
   * As above after a listing, the way Spark lists then opens. Needs the core's listing to fill the
   * metadata cache with each entry's status (Namespace::list does not yet).
   */
  @Test
  public void openFileWithLengthAfterListingUsesTheMetadataCache() throws Exception {
    FileSystem fs = newFs(s3conf());
    byte[] data = randomBytes(100_000, 7);
    put(fs, path("dir/l.bin"), data);
    assertThat(fs.listStatus(path("dir"))).hasSize(1);
    Map<String, Long> before = stats(fs);
    try (FSDataInputStream in = openWithLength(fs, path("dir/l.bin"), data.length)) {
      assertArrayEquals(data, readAll(in));
    }
    assertEquals(0, delta(stats(fs), before, "store_metadata_requests"));
  }

  @Test
  public void vectoredReadFetchesEachMissingPageOnce() throws Exception {
    FileSystem fs = newFs(s3conf());
    int page = 1 << 20;
    byte[] data = randomBytes(8 * page, 9);
    put(fs, path("v.bin"), data);
    // Ranges in pages 1, 2 (two ranges), 5 (across into 6) and 7.
    long[][] ranges = {
      {page + 10, 1000},
      {2L * page + 5, 4096},
      {2L * page + 9000, 70_000},
      {6L * page - 100, 300},
      {7L * page + 1, 20}
    };
    List<FileRange> list = new ArrayList<>();
    for (long[] r : ranges) {
      list.add(FileRange.createFileRange(r[0], (int) r[1]));
    }
    Map<String, Long> before = stats(fs);
    try (FSDataInputStream in = fs.open(path("v.bin"))) {
      assertTrue(in.hasCapability(StreamCapabilities.VECTOREDIO));
      in.readVectored(list, ByteBuffer::allocateDirect);
      for (FileRange r : list) {
        assertTrue(r.getData().isDone());
        ByteBuffer b = r.getData().get();
        byte[] got = new byte[b.remaining()];
        b.get(got);
        int from = (int) r.getOffset();
        assertArrayEquals(Arrays.copyOfRange(data, from, from + r.getLength()), got);
      }
    }
    Map<String, Long> after = stats(fs);
    // Pages 1, 2, 5, 6 and 7, once each.
    assertEquals(5, delta(after, before, "store_get_requests"));
    assertEquals(5L * page, delta(after, before, "bytes_from_store"));
  }

  /** Collects the events of one logger. */
  private static final class Captured extends AppenderSkeleton {
    final List<LoggingEvent> events = new ArrayList<>();

    @Override
    protected synchronized void append(LoggingEvent event) {
      events.add(event);
    }

    @Override
    public void close() {}

    @Override
    public boolean requiresLayout() {
      return false;
    }
  }

  @Test
  public void closeLogsASummary() throws IOException {
    Logger logger = Logger.getLogger(ShoalFileSystem.class);
    Level level = logger.getLevel();
    Captured captured = new Captured();
    logger.addAppender(captured);
    logger.setLevel(Level.INFO);
    try {
      FileSystem fs = newFs(s3conf());
      byte[] data = randomBytes(2 << 20, 8);
      put(fs, path("c.bin"), data);
      get(fs, path("c.bin"));
      get(fs, path("c.bin"));
      fs.close();
      fs.close();
    } finally {
      logger.removeAppender(captured);
      logger.setLevel(level);
    }
    assertThat(captured.events).hasSize(1);
    LoggingEvent e = captured.events.get(0);
    assertEquals(Level.INFO, e.getLevel());
    assertThat(e.getRenderedMessage())
        .startsWith("Shoal shoal:/// closed: ")
        .contains("cache hits", "2 misses", "hit ratio", "2.0 MiB from the store")
        .contains("from the cache", "store requests: 2 GET", "0 evictions", "0 corrupt pages");
  }

  @Test
  public void closeSummaryFormatsCounters() {
    String[] names = {"cache_hits", "cache_misses", "bytes_from_memory", "bytes_from_disk"};
    long[] values = {3, 1, 1536, 1 << 20};
    assertEquals(
        "Shoal shoal:/// closed: 3 cache hits, 1 misses (hit ratio 75.0%); 1.0 MiB from the cache"
            + " (memory 1.5 KiB, disk 1.0 MiB), 0 B from the store; store requests: 0 GET,"
            + " 0 metadata; 0 evictions, 0 corrupt pages",
        ShoalFileSystem.closeSummary(URI.create("shoal:///"), names, values));
  }
}
