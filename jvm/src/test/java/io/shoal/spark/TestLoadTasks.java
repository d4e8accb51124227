package io.shoal.spark;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import io.shoal.hadoop.CountingProxy;
import io.shoal.hadoop.S3Server;
import java.io.File;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.io.Text;
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
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * One task of the distributed load over a real S3 server (s3s-fs) behind a {@link CountingProxy}
 * that counts the object GETs the server is sent: the task's files are fetched several at once
 * ({@code shoal.load.parallel}), each file's record comes as that file finishes, and a file deleted
 * between the listing and the load is a failed record naming it while the others load. A task Spark
 * kills stops its native load (no GET after the ones in flight); free and stat list the path once,
 * on the driver, not in each host's task.
 */
public class TestLoadTasks {
  @ClassRule public static final S3Server S3 = new S3Server();
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  /** Files listed; one is deleted before the load. */
  private static final int FILES = 45;

  private static final int PARALLEL = 8;
  private static final int SIZE = 20_000;
  private CountingProxy proxy;
  private Configuration conf;
  private File data;

  @Before
  public void setUp() throws IOException {
    String bucket = "load-" + System.nanoTime();
    data = new File(S3.bucket(bucket), "data");
    for (int i = 0; i < FILES; i++) {
      File f = new File(data, String.format("d%d/f%02d.bin", i % 3, i));
      Files.createDirectories(f.getParentFile().toPath());
      byte[] b = new byte[SIZE];
      Arrays.fill(b, (byte) i);
      Files.write(f.toPath(), b);
    }
    proxy = new CountingProxy(URI.create(S3.endpoint()).getPort());
    conf = S3.mount(new Configuration(), "s3", "/s3", bucket + "/data");
    conf.set("shoal.mount.s3.option.aws_endpoint", proxy.endpoint());
    conf.set("shoal.cache.dirs", tmp.newFolder("cache").getAbsolutePath() + ":256m");
    conf.set("shoal.cache.memory.size", "0");
    conf.set("shoal.load.parallel", Integer.toString(PARALLEL));
    conf.setBoolean("fs.shoal.impl.disable.cache", true);
  }

  @After
  public void tearDown() {
    proxy.close();
  }

  private List<InputSplit> plan() throws IOException {
    Configuration c = new Configuration(conf);
    c.set(FileInputFormat.INPUT_DIR, "shoal:///s3");
    return new LoadInputFormat().getSplits(new JobContextImpl(c, new JobID()));
  }

  @Test
  public void oneTaskLoadsItsFilesSeveralAtOnceAndReportsEachAsItFinishes() throws Exception {
    List<InputSplit> splits = plan();
    assertEquals("no owner is known: one group", 1, splits.size());
    FileGroupSplit split = (FileGroupSplit) splits.get(0);
    assertEquals(FILES, split.count());
    assertEquals((long) FILES * SIZE, split.bytes());
    File gone = new File(data, "d1/f07.bin");
    assertTrue(gone.delete());

    // Each GET is held until PARALLEL are in flight, and those after the first FILES - HELD
    // until the test lets them go: the records of the files before them must come meanwhile,
    // as those files finish, not when the task's native call ends.
    int held = 5;
    proxy.reset();
    proxy.gate(PARALLEL, 10_000);
    proxy.holdAfter(FILES - held);
    TaskAttemptContext ctx = new TaskAttemptContextImpl(conf, new TaskAttemptID());
    RecordReader<Text, FileLoad> reader = new LoadInputFormat().createRecordReader(split, ctx);
    reader.initialize(split, ctx);
    List<FileLoad> records = new ArrayList<>();
    while (records.size() < FILES - held) {
      assertTrue(reader.nextKeyValue());
      records.add(reader.getCurrentValue());
    }
    // The workers that finished the last records send the held GETs next.
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (proxy.getsInFlight() < held && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals("the last GETs are held", held, proxy.getsInFlight());
    assertEquals(FILES - held, Math.round(reader.getProgress() * FILES));
    proxy.gate(0, 0);
    proxy.release();
    while (reader.nextKeyValue()) {
      records.add(reader.getCurrentValue());
    }
    reader.close();

    assertEquals(FILES, records.size());
    assertEquals("GETs in flight at once", PARALLEL, proxy.peakGetsInFlight());
    assertEquals("one GET a file", FILES, proxy.gets());
    int failed = 0;
    for (FileLoad r : records) {
      if (r.path().equals("/s3/d1/f07.bin")) {
        failed++;
        assertNotNull(r.toString(), r.error());
        assertTrue(r.error(), r.error().startsWith("java.io.FileNotFoundException"));
        assertTrue(r.error(), r.error().contains("/s3/d1/f07.bin"));
      } else {
        assertNull(r.toString(), r.error());
        assertEquals(r.toString(), SIZE, r.fetched());
        assertEquals(r.toString(), 0, r.cachedBefore());
      }
    }
    assertEquals(1, failed);
    LoadSummary s = new LoadSummary("shoal:///s3", records, 0, 1.0);
    assertEquals(Arrays.asList("/s3/d1/f07.bin"), new ArrayList<>(s.failures().keySet()));
    assertEquals((long) (FILES - 1) * SIZE, s.fetchedBytes());

    // Again, with nothing to fetch: every file is reported cached and the store sees no GET.
    proxy.reset();
    reader = new LoadInputFormat().createRecordReader(split, ctx);
    reader.initialize(split, ctx);
    int cached = 0;
    while (reader.nextKeyValue()) {
      FileLoad r = reader.getCurrentValue();
      if (r.error() == null) {
        assertEquals(r.toString(), 0, r.fetched());
        assertEquals(r.toString(), SIZE, r.cachedBefore());
        cached++;
      }
    }
    assertEquals(FILES - 1, cached);
    assertEquals("only the deleted file is asked for again", 1, proxy.gets());
    assertFalse(reader.nextKeyValue());
  }

  /** Waits (at most 10 s) until no object GET is in flight, then a little more for stragglers. */
  private void settle() throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (proxy.getsInFlight() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    Thread.sleep(300);
  }

  @Test
  public void aKilledTaskStopsItsNativeLoadAndALaterLoadFinishesIt() throws Exception {
    FileGroupSplit split = (FileGroupSplit) plan().get(0);
    assertEquals(FILES, split.count());
    // The first GETs pass; those after them are held, so the kill comes while PARALLEL are in
    // flight and most files are still to be fetched.
    int first = 10;
    proxy.reset();
    proxy.holdAfter(first);
    TaskAttemptContext ctx = new TaskAttemptContextImpl(conf, new TaskAttemptID());
    LoadInputFormat.Reader reader =
        (LoadInputFormat.Reader) new LoadInputFormat().createRecordReader(split, ctx);
    reader.initialize(split, ctx);
    AtomicBoolean killed = new AtomicBoolean();
    reader.killedBy(killed::get);
    for (int i = 0; i < first; i++) {
      assertTrue(reader.nextKeyValue());
      assertNull(reader.getCurrentValue().toString(), reader.getCurrentValue().error());
    }
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (proxy.getsInFlight() < PARALLEL && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertEquals("held GETs", PARALLEL, proxy.getsInFlight());

    // Spark marks the task killed: the task's wait for its next record ends within the poll.
    int atKill = proxy.gets();
    killed.set(true);
    long t0 = System.nanoTime();
    try {
      reader.nextKeyValue();
      fail("a killed task goes on");
    } catch (InterruptedIOException e) {
      assertTrue(e.getMessage(), e.getMessage().contains("killed"));
    }
    long waited = (System.nanoTime() - t0) / 1_000_000;
    assertTrue(waited + " ms", waited < 2_000);
    reader.close();
    // The native call sees the kill within its 20 ms poll (given 500 ms here); the held GETs
    // then finish and no other starts.
    Thread.sleep(500);
    proxy.release();
    settle();
    int gets = proxy.gets();
    assertEquals("GETs at the kill", first + PARALLEL, atKill);
    assertTrue(gets + " GETs", gets <= first + PARALLEL);

    // A later load fetches the rest, each file once in all.
    proxy.reset();
    reader = (LoadInputFormat.Reader) new LoadInputFormat().createRecordReader(split, ctx);
    reader.initialize(split, ctx);
    int loaded = 0;
    long fetched = 0;
    while (reader.nextKeyValue()) {
      FileLoad r = reader.getCurrentValue();
      assertNull(r.toString(), r.error());
      assertEquals(r.toString(), SIZE, r.fetched() + r.cachedBefore());
      fetched += r.fetched();
      loaded++;
    }
    reader.close();
    assertEquals(FILES, loaded);
    assertEquals(FILES - gets, proxy.gets());
    assertEquals((long) (FILES - gets) * SIZE, fetched);
  }

  @Test
  public void freeAndStatListThePathOnceForEveryHost() throws Exception {
    String hosts = "h1.example,h2.example,h3.example";
    Configuration c = new Configuration(conf);
    c.set(NodeInputFormat.PATH, "shoal:///s3");
    c.set(NodeInputFormat.HOSTS, hosts);
    c.setInt(NodeInputFormat.TASK_FILES, 20);
    // Every file cached on this node (where every host's tasks run here).
    FileGroupSplit all = (FileGroupSplit) plan().get(0);
    TaskAttemptContext loadCtx = new TaskAttemptContextImpl(conf, new TaskAttemptID());
    RecordReader<Text, FileLoad> loader = new LoadInputFormat().createRecordReader(all, loadCtx);
    loader.initialize(all, loadCtx);
    while (loader.nextKeyValue()) {
      assertNull(loader.getCurrentValue().error());
    }
    proxy.reset();
    NodeInputFormat format = new NodeInputFormat();
    JobContext job = new JobContextImpl(c, new JobID());
    List<InputSplit> splits = format.getSplits(job);
    int lists = proxy.lists();
    assertTrue(lists + " listing requests", lists >= 1);
    // 45 files in groups of 20: 3 groups, each for each of 3 hosts.
    assertEquals(9, splits.size());
    long total = (long) FILES * SIZE;
    String[] ops = {"stat", "free", "stat"};
    long[] cachedWant = {3 * total, total, 0};
    for (int k = 0; k < ops.length; k++) {
      String op = ops[k];
      c.set(NodeInputFormat.OP, op);
      long files = 0;
      long cached = 0;
      for (InputSplit s : splits) {
        NodeInputFormat.HostSplit h = (NodeInputFormat.HostSplit) s;
        assertEquals(Arrays.asList(h.host()), Arrays.asList(h.getLocations()));
        TaskAttemptContext ctx = new TaskAttemptContextImpl(c, new TaskAttemptID());
        RecordReader<Text, NodeReport> reader = format.createRecordReader(s, ctx);
        reader.initialize(s, ctx);
        assertTrue(reader.nextKeyValue());
        NodeReport r = reader.getCurrentValue();
        assertEquals(h.host(), r.target());
        assertEquals(h.group(), r.group);
        files += r.files();
        cached += r.cachedBytes();
        assertEquals(0, r.errorCount());
        reader.close();
      }
      assertEquals(op, 3L * FILES, files);
      // free: the first host's tasks free everything, the others find nothing left.
      assertEquals(op, cachedWant[k], cached);
    }
    assertEquals("the tasks list nothing", lists, proxy.lists());
    assertEquals("nor fetch", 0, proxy.gets());
  }
}
