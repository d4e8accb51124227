package io.shoal.spark;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.Writable;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.JobContext;
import org.apache.hadoop.mapreduce.JobID;
import org.apache.hadoop.mapreduce.RecordReader;
import org.apache.hadoop.mapreduce.TaskAttemptContext;
import org.apache.hadoop.mapreduce.TaskAttemptID;
import org.apache.hadoop.mapreduce.lib.input.FileInputFormat;
import org.apache.hadoop.mapreduce.lib.input.FileSplit;
import org.apache.hadoop.mapreduce.task.JobContextImpl;
import org.apache.hadoop.mapreduce.task.TaskAttemptContextImpl;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The input formats of the distributed jobs, driven the way Spark drives them (getSplits on the
 * driver, a record reader per split in a task) over a cached local mount and a real node cache.
 */
public class TestCacheInputFormats {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private static final String HOSTS = "h1.example,h2.example,h3.example";
  private Configuration conf;
  private FileSystem fs;
  private final Map<String, Integer> sizes = new HashMap<>();

  @Before
  public void setUp() throws IOException {
    File data = tmp.newFolder("data");
    Random random = new Random(7);
    String[] names = {"a/1", "a/2", "a/b/3", "c", "_SUCCESS", ".hidden", "empty", "big"};
    int[] lengths = {1000, 70_000, 5, 300_000, 0, 10, 0, 2_500_000};
    for (int i = 0; i < names.length; i++) {
      byte[] b = new byte[lengths[i]];
      random.nextBytes(b);
      File f = new File(data, names[i]);
      Files.createDirectories(f.getParentFile().toPath());
      Files.write(f.toPath(), b);
      sizes.put("/data/" + names[i], lengths[i]);
    }
    conf = new Configuration();
    conf.set("shoal.mount.data.path", "/data");
    conf.set("shoal.mount.data.uri", "file://" + data.getAbsolutePath());
    conf.set("shoal.mount.data.cache", "true");
    conf.set("shoal.cache.dirs", tmp.newFolder("cache").getAbsolutePath() + ":256m");
    conf.set("shoal.cache.memory.size", "0");
    conf.set("shoal.cluster.hosts", HOSTS);
    // Each test has its own directories: no filesystem cached by an earlier test.
    conf.setBoolean("fs.shoal.impl.disable.cache", true);
    fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
  }

  @After
  public void tearDown() throws IOException {
    fs.close();
  }

  private List<FileLoad> runLoad(List<InputSplit> splits) throws Exception {
    List<FileLoad> out = new ArrayList<>();
    LoadInputFormat format = new LoadInputFormat();
    for (InputSplit split : splits) {
      out.addAll(read(format.createRecordReader(split, task()), split));
    }
    return out;
  }

  private TaskAttemptContext task() {
    return new TaskAttemptContextImpl(conf, new TaskAttemptID());
  }

  private <V extends Writable> List<V> read(RecordReader<?, V> reader, InputSplit split)
      throws Exception {
    List<V> out = new ArrayList<>();
    reader.initialize(split, task());
    while (reader.nextKeyValue()) {
      out.add(reader.getCurrentValue());
    }
    reader.close();
    return out;
  }

  private List<InputSplit> loadSplits() throws IOException {
    Configuration c = new Configuration(conf);
    c.set(FileInputFormat.INPUT_DIR, "shoal:///data");
    JobContext job = new JobContextImpl(c, new JobID());
    return new LoadInputFormat().getSplits(job);
  }

  private NodeReport runNode(String op, String path) throws Exception {
    Configuration c = new Configuration(conf);
    c.set(NodeInputFormat.OP, op);
    c.set(NodeInputFormat.PATH, path);
    c.set(NodeInputFormat.HOSTS, "h2.example");
    NodeInputFormat format = new NodeInputFormat();
    List<InputSplit> splits = format.getSplits(new JobContextImpl(c, new JobID()));
    assertEquals(1, splits.size());
    assertEquals(Arrays.asList("h2.example"), Arrays.asList(splits.get(0).getLocations()));
    TaskAttemptContext ctx = new TaskAttemptContextImpl(c, new TaskAttemptID());
    RecordReader<?, NodeReport> reader = format.createRecordReader(splits.get(0), ctx);
    reader.initialize(splits.get(0), ctx);
    assertTrue(reader.nextKeyValue());
    NodeReport r = reader.getCurrentValue();
    assertFalse(reader.nextKeyValue());
    assertEquals("h2.example", r.target());
    return r;
  }

  @Test
  public void oneUnsplitSplitPerFileOnItsOwner() throws IOException {
    List<InputSplit> splits = loadSplits();
    assertEquals("hidden files too", sizes.size(), splits.size());
    for (InputSplit s : splits) {
      FileSplit f = (FileSplit) s;
      String path = f.getPath().toUri().getPath();
      assertEquals(path, (long) sizes.get(path), f.getLength());
      assertEquals(0, f.getStart());
      if (f.getLength() > 0) {
        String owner = fs.getFileBlockLocations(f.getPath(), 0, 1)[0].getHosts()[0];
        assertEquals(path, Arrays.asList(owner), Arrays.asList(f.getLocations()));
        assertTrue(HOSTS.contains(owner));
      }
    }
  }

  @Test
  public void loadFetchesOnlyWhatIsMissing() throws Exception {
    long total = 0;
    for (int n : sizes.values()) {
      total += n;
    }
    List<FileLoad> first = runLoad(loadSplits());
    assertEquals(sizes.size(), first.size());
    long fetched = 0;
    for (FileLoad l : first) {
      assertNull(l.toString(), l.error());
      assertEquals(l.path(), (long) sizes.get(new Path(l.path()).toUri().getPath()), l.length());
      assertEquals(l.toString(), 0, l.cachedBefore());
      assertEquals(l.toString(), l.length(), l.fetched());
      assertEquals(NodeCache.localHost(), l.host());
      fetched += l.fetched();
    }
    assertEquals(total, fetched);
    LoadSummary s1 = new LoadSummary("shoal:///data", first, 2, 1.0);
    assertEquals(total, s1.fetchedBytes());
    assertEquals(2, s1.alreadyCachedFiles()); // the empty ones

    List<FileLoad> second = runLoad(loadSplits());
    for (FileLoad l : second) {
      assertEquals(l.toString(), 0, l.fetched());
      assertEquals(l.toString(), l.length(), l.cachedBefore());
    }
    LoadSummary s2 = new LoadSummary("shoal:///data", second, 2, 1.0);
    assertEquals(0, s2.fetchedBytes());
    assertEquals(total, s2.cachedBytesBefore());
    assertEquals(sizes.size(), s2.alreadyCachedFiles());
    assertTrue(s2.toJson(), s2.toJson().contains("\"fetched_bytes\": 0"));
  }

  @Test
  public void loadFootersFetchesOnlyEachFilesLastPage() throws Exception {
    conf.setBoolean(LoadInputFormat.FOOTERS, true);
    List<FileLoad> loads = runLoad(loadSplits());
    assertEquals(sizes.size(), loads.size());
    for (FileLoad l : loads) {
      assertNull(l.toString(), l.error());
      // None is Parquet: the last page (1 MiB pages) is read, found not to end in PAR1, and kept;
      // a file under 12 bytes cannot be Parquet and is not read at all.
      long lastPage = l.length() < 12 ? 0 : l.length() - ((l.length() - 1) / (1 << 20)) * (1 << 20);
      assertEquals(l.toString(), lastPage, l.fetched());
    }
    NodeReport stat = runNode("stat", "shoal:///data/big");
    assertEquals(2_500_000 - 2 * (1 << 20), stat.cachedBytes());
  }

  @Test
  public void statAndFreeCoverEveryFileUnderThePath() throws Exception {
    NodeReport cold = runNode("stat", "shoal:///data");
    assertEquals(sizes.size(), cold.files());
    assertEquals(0, cold.cachedBytes());
    runLoad(loadSplits());
    NodeReport warm = runNode("stat", "shoal:///data");
    assertEquals(warm.bytes(), warm.cachedBytes());
    assertEquals(sizes.size(), warm.cachedFiles());

    NodeReport freedA = runNode("free", "shoal:///data/a");
    assertEquals(3, freedA.files());
    assertEquals(71_005, freedA.cachedBytes());
    assertTrue(freedA.toString(), freedA.freedBytes() >= 71_005);
    NodeReport after = runNode("stat", "shoal:///data");
    assertEquals(warm.cachedBytes() - 71_005, after.cachedBytes());

    runNode("free", "shoal:///data");
    assertEquals(0, runNode("stat", "shoal:///data").cachedBytes());
    // Loading again fetches everything again.
    long fetched = 0;
    for (FileLoad l : runLoad(loadSplits())) {
      fetched += l.fetched();
    }
    assertEquals(warm.bytes(), fetched);
  }

  @Test
  public void aMissingFileIsAFailedRecordNotAFailedTask() throws Exception {
    List<InputSplit> splits = loadSplits();
    fs.delete(new Path("/data/c"), false);
    List<FileLoad> loads = runLoad(splits);
    LoadSummary s = new LoadSummary("shoal:///data", loads, 2, 1.0);
    assertEquals(1, s.failures().size());
    assertTrue(s.failures().toString(), s.failures().keySet().iterator().next().endsWith("/c"));
    assertTrue(s.toString(), s.toString().contains("1 failed"));
  }

  @Test
  public void recordsSurviveWritableAndJavaSerialization() throws IOException {
    FileLoad l = new FileLoad("shoal:///data/x", "h1", 10);
    l.fetched = 7;
    l.cachedBefore = 3;
    l.error = "boom";
    FileLoad copy = new FileLoad();
    roundTrip(l, copy);
    assertEquals(l.toString(), copy.toString());

    NodeReport r = new NodeReport();
    r.host = "h2";
    r.files = 2;
    r.cachedBytes = 5;
    r.error("shoal:///p", new IOException("x"));
    NodeReport rc = new NodeReport();
    roundTrip(r, rc);
    assertEquals(r.toString(), rc.toString());
    assertEquals(r.errors(), rc.errors());
  }

  private static void roundTrip(Writable from, Writable to) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    from.write(new DataOutputStream(bytes));
    to.readFields(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
  }
}
