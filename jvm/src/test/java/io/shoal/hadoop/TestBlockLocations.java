package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.mountLocal;
import static io.shoal.hadoop.TestSupport.write;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import io.shoal.jni.NativeLibrary;
import io.shoal.jni.NativeMethods;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * getFileBlockLocations: the owner host of each block by consistent hashing, over {@code
 * shoal.cluster.hosts} or the live hosts set with clusterSetHosts (which win), and Hadoop's default
 * when neither is known.
 */
public class TestBlockLocations {
  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private static final List<String> STATIC = Arrays.asList("s1.example", "s2.example", "s3.ex");
  private final List<FileSystem> opened = new ArrayList<>();
  private File data;

  @Before
  public void setUp() throws IOException {
    NativeLibrary.load();
    NativeMethods.clusterSetHosts(new String[0]);
    data = tmp.newFolder("data");
    for (int i = 0; i < 40; i++) {
      write(new File(data, "small/f" + i), new byte[] {(byte) i});
    }
    write(new File(data, "large"), new byte[10_000]);
    write(new File(data, "empty"), new byte[0]);
  }

  @After
  public void tearDown() throws IOException {
    // The live host list is process-wide: leave none behind for other tests.
    NativeMethods.clusterSetHosts(new String[0]);
    for (FileSystem fs : opened) {
      fs.close();
    }
  }

  private FileSystem fs(String hosts, String blockSize) throws IOException {
    Configuration conf = mountLocal(conf(), "data", "/data", data);
    if (hosts != null) {
      conf.set("shoal.cluster.hosts", hosts);
    }
    if (blockSize != null) {
      conf.set(ShoalFileSystem.BLOCK_SIZE, blockSize);
    }
    FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
    opened.add(fs);
    return fs;
  }

  private static String owner(FileSystem fs, String path) throws IOException {
    FileStatus st = fs.getFileStatus(new Path(path));
    BlockLocation[] locs = fs.getFileBlockLocations(st, 0, st.getLen());
    assertEquals(Arrays.toString(locs), 1, locs.length);
    assertEquals(1, locs[0].getHosts().length);
    return locs[0].getHosts()[0];
  }

  @Test
  public void withoutHostsHadoopsDefaultIsKept() throws IOException {
    FileSystem fs = fs(null, null);
    FileStatus st = fs.getFileStatus(new Path("/data/large"));
    BlockLocation[] locs = fs.getFileBlockLocations(st, 0, st.getLen());
    assertEquals(1, locs.length);
    assertArrayEquals(new String[] {"localhost"}, locs[0].getHosts());
    assertEquals(0, locs[0].getOffset());
    assertEquals(10_000, locs[0].getLength());
  }

  @Test
  public void staticHostsPlaceEachFileOnOneOfThem() throws IOException {
    FileSystem fs = fs(String.join(",", STATIC), null);
    FileSystem other = fs(String.join(",", STATIC), null);
    Set<String> used = new HashSet<>();
    for (int i = 0; i < 40; i++) {
      String path = "/data/small/f" + i;
      String host = owner(fs, path);
      assertTrue(host, STATIC.contains(host));
      // Computed, not remembered: another instance agrees.
      assertEquals(host, owner(other, path));
      used.add(host);
    }
    assertEquals("40 files spread over every host", new HashSet<>(STATIC), used);
    BlockLocation loc = fs.getFileBlockLocations(new Path("/data/small/f1"), 0, 1)[0];
    assertEquals(0, loc.getOffset());
    assertEquals(1, loc.getLength());
    assertArrayEquals(new String[] {loc.getHosts()[0] + ":9866"}, loc.getNames());
  }

  @Test
  public void blocksOfALargeFileHaveTheirOwnOwners() throws IOException {
    FileSystem fs = fs(String.join(",", STATIC), "1k");
    FileStatus st = fs.getFileStatus(new Path("/data/large"));
    assertEquals(1024, st.getBlockSize());
    BlockLocation[] all = fs.getFileBlockLocations(st, 0, st.getLen());
    assertEquals(10, all.length);
    Set<String> hosts = new HashSet<>();
    for (int i = 0; i < all.length; i++) {
      assertEquals(i * 1024L, all[i].getOffset());
      assertEquals(i < 9 ? 1024 : 10_000 - 9 * 1024, all[i].getLength());
      hosts.add(all[i].getHosts()[0]);
    }
    assertTrue(hosts.size() > 1);
    // The first block is placed by the file's path: a one-block read of it agrees.
    assertEquals(
        all[0].getHosts()[0],
        fs(String.join(",", STATIC), null).getFileBlockLocations(st, 0, 1)[0].getHosts()[0]);

    // A range: only the blocks it overlaps.
    BlockLocation[] mid = fs.getFileBlockLocations(st, 1500, 1000);
    assertEquals(2, mid.length);
    assertEquals(1024, mid[0].getOffset());
    assertEquals(2048, mid[1].getOffset());
    assertArrayEquals(all[1].getHosts(), mid[0].getHosts());
    // Zero length: the block holding start; past the end: nothing; past the end of len: clipped.
    BlockLocation[] none = fs.getFileBlockLocations(st, 3000, 0);
    assertEquals(1, none.length);
    assertEquals(2048, none[0].getOffset());
    assertEquals(0, fs.getFileBlockLocations(st, 10_000, 10).length);
    assertEquals(1, fs.getFileBlockLocations(st, 9500, 1 << 20).length);
    // Empty files and directories have no blocks.
    assertEquals(
        0, fs.getFileBlockLocations(fs.getFileStatus(new Path("/data/empty")), 0, 0).length);
    assertEquals(
        0, fs.getFileBlockLocations(fs.getFileStatus(new Path("/data/small")), 0, 1).length);
  }

  @Test
  public void liveHostsWinOverTheStaticList() throws IOException {
    FileSystem fs = fs(String.join(",", STATIC), null);
    FileSystem none = fs(null, null);
    Map<String, String> before = new HashMap<>();
    List<String> live = Arrays.asList("exec-a", "exec-b", "exec-c", "exec-d");
    NativeMethods.clusterSetHosts(live.toArray(new String[0]));
    for (int i = 0; i < 40; i++) {
      String path = "/data/small/f" + i;
      String host = owner(fs, path);
      assertTrue(host, live.contains(host));
      // Process-wide: a filesystem without a static list sees them too.
      assertEquals(host, owner(none, path));
      before.put(path, host);
    }
    // One host leaves: only its files move.
    NativeMethods.clusterSetHosts(new String[] {"exec-a", "exec-b", "exec-c"});
    int moved = 0;
    for (Map.Entry<String, String> e : before.entrySet()) {
      String host = owner(fs, e.getKey());
      if (!e.getValue().equals("exec-d")) {
        assertEquals(e.getKey(), e.getValue(), host);
      } else {
        moved++;
      }
    }
    assertTrue("some files were on exec-d", moved > 0);
    // Cleared: back to the static list, then to Hadoop's default.
    NativeMethods.clusterSetHosts(new String[0]);
    assertTrue(STATIC.contains(owner(fs, "/data/small/f0")));
    assertEquals("localhost", owner(none, "/data/small/f0"));
  }

  @Test
  public void listLocatedStatusReportsTheOwners() throws IOException {
    FileSystem fs = fs(String.join(",", STATIC), null);
    RemoteIterator<LocatedFileStatus> it = fs.listFiles(new Path("/data/small"), true);
    int n = 0;
    while (it.hasNext()) {
      LocatedFileStatus st = it.next();
      String path = st.getPath().toUri().getPath();
      assertEquals(path, owner(fs, path), st.getBlockLocations()[0].getHosts()[0]);
      n++;
    }
    assertEquals(40, n);
  }
}
