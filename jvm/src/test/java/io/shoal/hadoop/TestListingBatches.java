package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.mountLocal;
import static io.shoal.hadoop.TestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Listing iterators page through the native listing: {@code shoal.list.batch} entries per JNI
 * crossing, counted, never one array of the whole directory; they give what {@code listStatus}
 * gives. A local mount of {@value #FILES} files in one directory and a few in a subdirectory.
 */
public class TestListingBatches {
  private static final int FILES = 2_345;
  private static final int BATCH = 100;

  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static File root;

  @BeforeClass
  public static void makeTree() throws IOException {
    root = TMP.newFolder("data");
    for (int i = 0; i < FILES; i++) {
      write(new File(root, String.format("flat/f%05d.bin", i)), new byte[] {(byte) i});
    }
    write(new File(root, "flat/sub/a.bin"), new byte[3]);
    write(new File(root, "flat/sub/b.bin"), new byte[4]);
  }

  private static FileSystem newFs() throws IOException {
    Configuration conf = mountLocal(conf(), "m", "/m", root);
    conf.setInt(ShoalFileSystem.LIST_BATCH, BATCH);
    return FileSystem.newInstance(URI.create("shoal:///"), conf);
  }

  private static <T> List<T> drain(RemoteIterator<T> it) throws IOException {
    List<T> out = new ArrayList<>();
    while (it.hasNext()) {
      out.add(it.next());
    }
    return out;
  }

  private static List<String> paths(List<? extends FileStatus> statuses) {
    List<String> out = new ArrayList<>();
    for (FileStatus st : statuses) {
      out.add(st.getPath() + " " + st.isDirectory() + " " + st.getLen());
    }
    out.sort(null);
    return out;
  }

  /** The iterator's JNI crossings, once it is drained. */
  private static int batches(RemoteIterator<?> it) {
    assertThat(it).isInstanceOf(ShoalListing.class);
    return ((ShoalListing<?>) it).batches();
  }

  @Test
  public void listStatusIteratorPagesAndAgreesWithListStatus() throws IOException {
    try (FileSystem fs = newFs()) {
      Path flat = new Path("/m/flat");
      RemoteIterator<FileStatus> it = fs.listStatusIterator(flat);
      List<FileStatus> listed = drain(it);
      assertEquals(FILES + 1, listed.size());
      // Entries come BATCH at a time (a batch never spans two store pages of 1,000), and one
      // more crossing finds the end.
      int entries = FILES + 1;
      assertThat(batches(it)).isBetween(entries / BATCH + 1, entries / BATCH + 5);
      assertEquals(paths(listed), paths(java.util.Arrays.asList(fs.listStatus(flat))));
      assertFalse(it.hasNext());
      assertThrows(NoSuchElementException.class, it::next);
    }
  }

  @Test
  public void listLocatedStatusAndListFilesPage() throws IOException {
    try (FileSystem fs = newFs()) {
      RemoteIterator<LocatedFileStatus> located = fs.listLocatedStatus(new Path("/m/flat"));
      assertEquals(FILES + 1, drain(located).size());
      assertThat(batches(located)).isGreaterThan(FILES / BATCH);
      // Hadoop's non-recursive listFiles goes through listLocatedStatus: files only.
      assertEquals(FILES, drain(fs.listFiles(new Path("/m/flat"), false)).size());
      RemoteIterator<LocatedFileStatus> all = fs.listFiles(new Path("/m"), true);
      List<LocatedFileStatus> files = drain(all);
      assertEquals(FILES + 2, files.size());
      assertThat(batches(all)).isGreaterThan(FILES / BATCH);
      for (LocatedFileStatus st : files) {
        assertTrue(st.isFile());
      }
    }
  }

  @Test
  public void aMissingPathFailsAtOnceAndAFileListsItself() throws IOException {
    try (FileSystem fs = newFs()) {
      assertThrows(FileNotFoundException.class, () -> fs.listStatusIterator(new Path("/m/no")));
      assertThrows(FileNotFoundException.class, () -> fs.listLocatedStatus(new Path("/m/no")));
      assertThrows(FileNotFoundException.class, () -> fs.listFiles(new Path("/m/no"), true));
      Path file = new Path("/m/flat/sub/a.bin");
      List<FileStatus> one = drain(fs.listStatusIterator(file));
      assertEquals(1, one.size());
      assertEquals(3, one.get(0).getLen());
    }
  }

  @Test
  public void anIteratorClosedHalfWayStopsAndTheFilesystemGoesOn() throws IOException {
    try (FileSystem fs = newFs()) {
      RemoteIterator<FileStatus> it = fs.listStatusIterator(new Path("/m/flat"));
      for (int i = 0; i < BATCH + 1; i++) {
        it.next();
      }
      ((java.io.Closeable) it).close();
      // What was fetched is still handed out; nothing more is fetched.
      int left = 0;
      while (it.hasNext()) {
        it.next();
        left++;
      }
      assertThat(left).isLessThan(BATCH);
      assertEquals(2, batches(it));
      assertEquals(FILES + 1, fs.listStatus(new Path("/m/flat")).length);
    }
  }

  @Test
  public void anIteratorDroppedHalfWayIsReleasedOnceCollected() throws Exception {
    try (FileSystem fs = newFs()) {
      int before = ShoalListing.open();
      RemoteIterator<FileStatus> it = fs.listStatusIterator(new Path("/m/flat"));
      it.next();
      assertEquals(before + 1, ShoalListing.open());
      it = null;
      // Bounded: the collector is asked at most 100 times.
      for (int i = 0; i < 100 && ShoalListing.open() > before; i++) {
        System.gc();
        Thread.sleep(10);
        ShoalListing.releaseDropped();
      }
      assertThat(ShoalListing.open()).isLessThanOrEqualTo(before);
      // A drained iterator released its listing itself.
      drain(fs.listStatusIterator(new Path("/m/flat/sub")));
      assertThat(ShoalListing.open()).isLessThanOrEqualTo(before);
    }
  }
}
