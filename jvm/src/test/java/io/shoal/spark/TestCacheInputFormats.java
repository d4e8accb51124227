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

  private long nonEmpty() {
    return sizes.values().stream().filter(n -> n > 0).count();
  }

  @Test
  public void filesAreGroupedIntoTasksOnTheirOwners() throws IOException {
    List<InputSplit> splits = loadSplits();
    Map<String, String> seen = new HashMap<>();
    for (InputSplit s : splits) {
      FileGroupSplit g = (FileGroupSplit) s;
      assertTrue(g.toString(), HOSTS.contains(g.host()));
      assertEquals(Arrays.asList(g.host()), Arrays.asList(g.getLocations()));
      FileGroupSplit.Files f = g.decode();
      long bytes = 0;
      for (int i = 0; i < g.count(); i++) {
        String path = f.paths[i];
        assertEquals(path, (long) sizes.get(path), f.lengths[i]);
        assertTrue(path, f.versions[i] != null);
        String owner = fs.getFileBlockLocations(new Path(path), 0, 1)[0].getHosts()[0];
        assertEquals(path, owner, g.host());
        assertNull(path + " in two tasks", seen.put(path, g.host()));
        bytes += f.lengths[i];
      }
      assertEquals(bytes, g.bytes());
    }
    assertEquals("every non-empty file once, hidden ones too", nonEmpty(), seen.size());
    assertTrue(seen.containsKey("/data/.hidden"));

    // Bounded per task, in files and in bytes (a larger file is a task of its own).
    conf.set(LoadPlan.TASK_FILES, "1");
    assertEquals(nonEmpty(), loadSplits().size());
    conf.set(LoadPlan.TASK_FILES, "1000");
    conf.set(LoadPlan.TASK_SIZE, "100k");
    for (InputSplit s : loadSplits()) {
      FileGroupSplit g = (FileGroupSplit) s;
      assertTrue(g.toString(), g.count() == 1 || g.bytes() <= 100 << 10);
    }
    conf.set(LoadPlan.TASK_FILES, "0");
    try {
      loadSplits();
      org.junit.Assert.fail("task.files 0 accepted");
    } catch (IllegalArgumentException e) {
      assertTrue(e.getMessage(), e.getMessage().contains(LoadPlan.TASK_FILES));
    }
  }

  @Test
  public void loadFetchesOnlyWhatIsMissing() throws Exception {
    long total = 0;
    for (int n : sizes.values()) {
      total += n;
    }
    List<FileLoad> first = runLoad(loadSplits());
    assertEquals(nonEmpty(), first.size());
    long fetched = 0;
    for (FileLoad l : first) {
      assertNull(l.toString(), l.error());
      assertEquals(l.path(), (long) sizes.get(new Path(l.path()).toUri().getPath()), l.length());
      assertEquals(l.toString(), 0, l.cachedBefore());
      assertEquals(l.toString(), l.length(), l.fetched());
      assertEquals(NodeCache.localHost(), l.host());
      assertTrue(l.path(), l.path().startsWith("/data/"));
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
    assertEquals(nonEmpty(), loads.size());
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
  public void statAndFreeOverManyFilesInBatches() throws Exception {
    // More files than one native call takes, in many directories.
    int many = NodeInputFormat.BATCH * 2 + 345;
    File root = new File(tmp.getRoot(), "data/many");
    for (int i = 0; i < many; i++) {
      File f = new File(root, "d" + (i % 50) + "/f" + i);
      Files.createDirectories(f.getParentFile().toPath());
      Files.write(f.toPath(), new byte[1 + i % 300]);
    }
    long manyBytes = 0;
    for (int i = 0; i < many; i++) {
      manyBytes += 1 + i % 300;
    }
    conf.set(LoadPlan.TASK_FILES, "500");
    Configuration c = new Configuration(conf);
    c.set(FileInputFormat.INPUT_DIR, "shoal:///data/many");
    List<InputSplit> splits = new LoadInputFormat().getSplits(new JobContextImpl(c, new JobID()));
    assertTrue(splits.size() + " tasks", splits.size() >= many / 500);
    LoadSummary loaded = new LoadSummary("shoal:///data/many", runLoad(splits), 0, 1.0);
    assertEquals(many, loaded.files());
    assertEquals(manyBytes, loaded.fetchedBytes());
    assertTrue(loaded.failures().toString(), loaded.failures().isEmpty());

    NodeReport stat = runNode("stat", "shoal:///data/many");
    assertEquals(many, stat.files());
    assertEquals(manyBytes, stat.bytes());
    assertEquals(manyBytes, stat.cachedBytes());
    assertEquals(many, stat.cachedFiles());
    assertEquals(0, stat.errorCount());

    NodeReport freed = runNode("free", "shoal:///data/many");
    assertEquals(many, freed.files());
    assertEquals(manyBytes, freed.cachedBytes());
    assertTrue(freed.toString(), freed.freedBytes() >= manyBytes);
    assertEquals(0, runNode("stat", "shoal:///data/many").cachedBytes());
    // The files outside the path are untouched.
    assertEquals(0, runNode("stat", "shoal:///data/a").cachedBytes());
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

    FileGroupSplit.Builder b = new FileGroupSplit.Builder("h3");
    b.add("/data/é/x", 5, "abc", "etag:abc");
    b.add("/data/y", 7, null, "lm:7:9");
    b.add("/data/z", 9, "q", null);
    FileGroupSplit g = b.build();
    FileGroupSplit gc = new FileGroupSplit();
    roundTrip(g, gc);
    assertEquals(g.toString(), gc.toString());
    FileGroupSplit.Files f = gc.decode();
    assertEquals(Arrays.asList("/data/é/x", "/data/y", "/data/z"), Arrays.asList(f.paths));
    assertEquals(Arrays.asList("etag:abc", "lm:7:9", null), Arrays.asList(f.versions));
    assertEquals(Arrays.asList("abc", null, "q"), Arrays.asList(f.etags));
    assertEquals(21, gc.bytes());
    assertEquals(Arrays.asList("h3"), Arrays.asList(gc.getLocations()));
  }

  private static void roundTrip(Writable from, Writable to) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    from.write(new DataOutputStream(bytes));
    to.readFields(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
  }
}
