package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.mountLocal;
import static io.shoal.hadoop.TestSupport.randomBytes;
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
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.junit.BeforeClass;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * {@code listFiles(path, true)} is one flat store listing, not Hadoop's directory walk: it returns
 * what the walk returns (paths, lengths, times, ETags, block locations), and on an S3 mount it
 * costs a bounded number of store metadata requests where the walk costs one per directory.
 *
 * <p>The tree: {@value #DIRS} directories of {@value #SUBDIRS} subdirectories of two files each,
 * and one file at the top, in an S3 mount ({@code /s3}) and in a local mount ({@code /local}); a
 * second local mount is nested inside the S3 mount ({@code /s3/tree/nested}).
 */
public class TestListFiles {
  private static final int DIRS = 4;
  private static final int SUBDIRS = 3;
  private static final int FILES = DIRS * SUBDIRS * 2 + 1;

  @ClassRule public static final S3Server S3 = new S3Server();
  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static File local;
  private static File nested;

  @BeforeClass
  public static void makeTrees() throws IOException {
    File bucket = S3.bucket("list");
    local = TMP.newFolder("local");
    nested = TMP.newFolder("nested");
    write(new File(nested, "n/inner.bin"), randomBytes(10, 1));
    for (File root : new File[] {new File(bucket, "p/tree"), new File(local, "tree")}) {
      write(new File(root, "top.bin"), randomBytes(100, 2));
      for (int d = 0; d < DIRS; d++) {
        for (int s = 0; s < SUBDIRS; s++) {
          for (int f = 0; f < 2; f++) {
            write(
                new File(root, "d" + d + "/s" + s + "/f" + f + ".bin"),
                randomBytes(1000 * (d + 1) + 10 * s + f, d * 100 + s * 10 + f));
          }
        }
      }
    }
  }

  /** A fresh filesystem (a cold metadata cache) over both mounts, with placement hosts. */
  /** A new filesystem over the test mounts, with these keys and values set too. */
  private static FileSystem newFs(String... keysAndValues) throws IOException {
    Configuration conf = S3.mount(conf(), "s3", "/s3", "list/p");
    for (int i = 0; i + 1 < keysAndValues.length; i += 2) {
      conf.set(keysAndValues[i], keysAndValues[i + 1]);
    }
    mountLocal(conf, "local", "/local", local);
    mountLocal(conf, "nested", "/s3/tree/nested", nested);
    // Block locations to compare: consistent hashing over three hosts, 4 KiB blocks.
    conf.set("shoal.cluster.hosts", "h1,h2,h3");
    conf.set(ShoalFileSystem.BLOCK_SIZE, "4k");
    return FileSystem.newInstance(URI.create("shoal:///"), conf);
  }

  private static long metadataRequests(FileSystem fs) {
    return fs.getStorageStatistics().getLong("store_metadata_requests");
  }

  private static List<LocatedFileStatus> drain(RemoteIterator<LocatedFileStatus> it)
      throws IOException {
    List<LocatedFileStatus> out = new ArrayList<>();
    while (it.hasNext()) {
      out.add(it.next());
    }
    return out;
  }

  /** What Hadoop's own listFiles does: listLocatedStatus of every directory, depth first. */
  private static void walk(FileSystem fs, Path dir, List<LocatedFileStatus> out)
      throws IOException {
    RemoteIterator<LocatedFileStatus> it = fs.listLocatedStatus(dir);
    while (it.hasNext()) {
      LocatedFileStatus st = it.next();
      if (st.isDirectory()) {
        walk(fs, st.getPath(), out);
      } else {
        out.add(st);
      }
    }
  }

  /** One line per file with everything a caller may use of it. */
  private static List<String> describe(List<LocatedFileStatus> files) throws IOException {
    List<String> out = new ArrayList<>();
    for (LocatedFileStatus st : files) {
      assertThat(st).isInstanceOf(ShoalLocatedFileStatus.class);
      ShoalLocatedFileStatus s = (ShoalLocatedFileStatus) st;
      StringBuilder b =
          new StringBuilder(
              String.format(
                  "%s %s %d %d %d %s %s",
                  s.getPath(),
                  s.isFile(),
                  s.getLen(),
                  s.getModificationTime(),
                  s.getBlockSize(),
                  s.getEtag(),
                  s.getVersion()));
      for (BlockLocation l : s.getBlockLocations()) {
        b.append(" [")
            .append(l.getOffset())
            .append('+')
            .append(l.getLength())
            .append(' ')
            .append(Arrays.toString(l.getHosts()))
            .append(']');
      }
      out.add(b.toString());
    }
    out.sort(null);
    return out;
  }

  private static void sameAsTheWalk(String dir, int files) throws IOException {
    try (FileSystem flat = newFs();
        FileSystem walker = newFs()) {
      List<LocatedFileStatus> listed = drain(flat.listFiles(new Path(dir), true));
      List<LocatedFileStatus> walked = new ArrayList<>();
      walk(walker, new Path(dir), walked);
      assertEquals(files, listed.size());
      assertEquals(describe(walked), describe(listed));
      // Each file once (in each store's order, one mount after the other: the listing streams).
      Set<String> paths = new HashSet<>();
      for (LocatedFileStatus st : listed) {
        assertTrue(st.getPath() + " twice", paths.add(st.getPath().toString()));
      }
    }
  }

  @Test
  public void sameFilesAsTheWalkOnS3WithANestedMount() throws IOException {
    sameAsTheWalk("/s3/tree", FILES + 1);
  }

  @Test
  public void sameFilesAsTheWalkOnALocalMount() throws IOException {
    sameAsTheWalk("/local/tree", FILES);
  }

  @Test
  public void sameFilesAsTheWalkAboveTheMounts() throws IOException {
    sameAsTheWalk("/", 2 * FILES + 1);
  }

  @Test
  public void oneListingOnS3WhereTheWalkListsEveryDirectory() throws IOException {
    Path tree = new Path("/s3/tree/d1");
    try (FileSystem fs = newFs()) {
      long before = metadataRequests(fs);
      assertEquals(SUBDIRS * 2, drain(fs.listFiles(tree, true)).size());
      long flat = metadataRequests(fs) - before;
      // The status of the directory (a HEAD, and one page of the flat listing of its tree as
      // the directory probe) and one flat listing of its files.
      assertThat(flat).isBetween(1L, 3L);
    }
    try (FileSystem fs = newFs()) {
      // The first listing is one flat listing of the tree below it, which answers the
      // listings of every directory the walk goes on to (shoal.metadata.tree.max.entries).
      assertThat(walkRequests(fs, tree)).isBetween(1L, 2L);
    }
    try (FileSystem fs = newFs("shoal.metadata.tree.max.entries", "0")) {
      // Each directory listed alone: one listing per directory at least.
      assertThat(walkRequests(fs, tree)).isGreaterThanOrEqualTo(1 + SUBDIRS);
    }
  }

  /** Walks {@code tree} a directory at a time; returns the metadata requests that cost. */
  private static long walkRequests(FileSystem fs, Path tree) throws IOException {
    long before = metadataRequests(fs);
    List<LocatedFileStatus> walked = new ArrayList<>();
    walk(fs, tree, walked);
    assertEquals(SUBDIRS * 2, walked.size());
    return metadataRequests(fs) - before;
  }

  @Test
  public void opensFromTheListingAskNothingMore() throws IOException {
    try (FileSystem fs = newFs()) {
      List<LocatedFileStatus> files = drain(fs.listFiles(new Path("/s3/tree/d2"), true));
      long before = metadataRequests(fs);
      for (LocatedFileStatus st : files) {
        fs.open(st.getPath()).close();
        fs.openFile(st.getPath()).withFileStatus(st).build().join().close();
      }
      assertEquals(before, metadataRequests(fs));
    }
  }

  @Test
  public void aFileListsItselfAndAMissingPathIsNotFound() throws IOException {
    try (FileSystem fs = newFs()) {
      Path file = new Path("/s3/tree/d0/s1/f1.bin");
      List<LocatedFileStatus> one = drain(fs.listFiles(file, true));
      assertEquals(1, one.size());
      assertEquals(fs.makeQualified(file), one.get(0).getPath());
      assertEquals(fs.getFileStatus(file).getLen(), one.get(0).getLen());
      assertThrows(
          FileNotFoundException.class, () -> fs.listFiles(new Path("/s3/tree/missing"), true));
      assertThrows(FileNotFoundException.class, () -> fs.listFiles(new Path("/nowhere"), true));
      RemoteIterator<LocatedFileStatus> it = fs.listFiles(file, true);
      it.next();
      assertFalse(it.hasNext());
      assertThrows(NoSuchElementException.class, it::next);
    }
  }
}
