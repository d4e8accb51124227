package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.names;
import static io.shoal.hadoop.TestSupport.randomBytes;
import static io.shoal.hadoop.TestSupport.readAll;
import static io.shoal.hadoop.TestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.EOFException;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.EtagSource;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.junit.After;
import org.junit.Before;
import org.junit.ClassRule;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TestName;

/**
 * Shoal over a real S3 server ({@link S3Server}, s3s-fs): {@code /s3} is mounted from {@code
 * s3://shoal-test/prefix}. Each test works under its own directory, named after the test.
 */
public class TestS3Mount {
  private static final String BUCKET = "shoal-test";

  @ClassRule public static final S3Server S3 = new S3Server();

  @Rule public TestName name = new TestName();

  private FileSystem fs;

  /** The test's directory in Shoal, /s3/<test name>. */
  private Path dir;

  /** The same directory on the server's disk. */
  private File disk;

  @Before
  public void setUp() throws IOException {
    File bucket = S3.bucket(BUCKET);
    Configuration conf = S3.mount(conf(), "s3", "/s3", BUCKET + "/prefix");
    fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
    dir = new Path("/s3/" + name.getMethodName());
    disk = new File(bucket, "prefix/" + name.getMethodName());
  }

  @After
  public void tearDown() throws IOException {
    if (fs != null) {
      fs.close();
    }
  }

  private Path path(String child) {
    return new Path(dir, child);
  }

  private void put(Path path, byte[] data) throws IOException {
    try (FSDataOutputStream out = fs.create(path, true)) {
      out.write(data);
    }
  }

  private byte[] get(Path path) throws IOException {
    try (FSDataInputStream in = fs.open(path)) {
      return readAll(in);
    }
  }

  @Test
  public void writeThenRead() throws IOException {
    byte[] data = randomBytes(2 << 20, 11);
    Path file = path("w/file.bin");
    put(file, data);
    assertArrayEquals(data, get(file));
    assertArrayEquals(data, Files.readAllBytes(new File(disk, "w/file.bin").toPath()));

    assertThrows(FileAlreadyExistsException.class, () -> fs.create(file, false));
    byte[] small = "replaced".getBytes(StandardCharsets.UTF_8);
    put(file, small);
    assertArrayEquals(small, get(file));
  }

  @Test
  public void listingSynthesizesDirectoriesFromPrefixes() throws IOException {
    put(path("a/x.txt"), new byte[] {1});
    put(path("a/b/y.txt"), new byte[] {2, 2});
    put(path("z.txt"), new byte[] {3, 3, 3});
    assertThat(names(fs.listStatus(dir))).containsExactlyInAnyOrder("a/", "z.txt");
    assertThat(names(fs.listStatus(path("a")))).containsExactlyInAnyOrder("x.txt", "b/");
    assertTrue(fs.getFileStatus(path("a")).isDirectory());
    assertTrue(fs.getFileStatus(path("a/b")).isDirectory());
    assertThat(names(fs.listStatus(new Path("/")))).contains("s3/");
    assertThat(names(fs.globStatus(new Path(dir, "a/*.txt")))).containsExactly("x.txt");
    for (FileStatus s : fs.listStatus(dir)) {
      assertEquals(
          new Path("shoal:///s3/" + name.getMethodName() + "/" + s.getPath().getName()),
          s.getPath());
      if (s.isFile()) {
        assertEquals(3, s.getLen());
      }
    }
  }

  @Test
  public void statusOfObjects() throws IOException {
    byte[] data = randomBytes(12345, 5);
    put(path("s.bin"), data);
    FileStatus st = fs.getFileStatus(path("s.bin"));
    assertTrue(st.isFile());
    assertEquals(data.length, st.getLen());
    assertThat(st.getModificationTime()).isPositive();
    assertThat(st).isInstanceOf(EtagSource.class);
    assertThat(((EtagSource) st).getEtag()).isNotEmpty();
    assertThat(((ShoalFileStatus) st).getVersion()).isNotEmpty();
    RemoteIterator<LocatedFileStatus> files = fs.listFiles(dir, false);
    assertTrue(files.hasNext());
    LocatedFileStatus located = files.next();
    assertEquals(st.getPath(), located.getPath());
    assertThat(located).isInstanceOf(EtagSource.class).isInstanceOf(ShoalLocatedFileStatus.class);
    assertEquals(data.length, located.getLen());
    assertFalse(files.hasNext());
    assertThrows(FileNotFoundException.class, () -> fs.getFileStatus(path("missing")));
    assertThrows(FileNotFoundException.class, () -> fs.open(path("missing")));
    assertFalse(fs.exists(path("missing")));
  }

  @Test
  public void seekAndPositionedReads() throws IOException {
    int len = 3 << 20;
    byte[] data = randomBytes(len, 17);
    put(path("seek.bin"), data);
    try (FSDataInputStream in = fs.open(path("seek.bin"))) {
      in.seek(len - 100);
      byte[] b = new byte[100];
      in.readFully(b);
      assertArrayEquals(Arrays.copyOfRange(data, len - 100, len), b);
      assertEquals(-1, in.read());
      in.seek(5);
      assertEquals(data[5] & 0xff, in.read());
      byte[] p = new byte[1 << 20];
      in.readFully(1_500_000, p);
      assertArrayEquals(Arrays.copyOfRange(data, 1_500_000, 1_500_000 + p.length), p);
      assertEquals(6, in.getPos());
      assertEquals(10, in.read(len - 10, p, 0, 100));
      assertEquals(-1, in.read(len, p, 0, 100));
      assertThrows(EOFException.class, () -> in.seek(len + 1));
      assertThrows(EOFException.class, () -> in.readFully(len - 5, new byte[6]));
      ByteBuffer direct = ByteBuffer.allocateDirect(4096);
      in.seek(2_000_000);
      assertEquals(4096, in.read(direct));
      direct.flip();
      byte[] d = new byte[4096];
      direct.get(d);
      assertArrayEquals(Arrays.copyOfRange(data, 2_000_000, 2_004_096), d);
    }
  }

  @Test
  public void objectsPutIntoTheBucketDirectlyAreRead() throws IOException {
    byte[] data = randomBytes(700_000, 23);
    write(new File(disk, "ondisk/obj.bin"), data);
    write(new File(disk, "ondisk/deeper/o.txt"), "o".getBytes(StandardCharsets.UTF_8));
    assertArrayEquals(data, get(path("ondisk/obj.bin")));
    assertEquals(data.length, fs.getFileStatus(path("ondisk/obj.bin")).getLen());
    assertThat(names(fs.listStatus(path("ondisk"))))
        .containsExactlyInAnyOrder("obj.bin", "deeper/");
  }

  @Test
  public void deleteAndRename() throws IOException {
    put(path("d/one.txt"), new byte[] {1});
    put(path("d/two.txt"), new byte[] {2});
    assertTrue(fs.delete(path("d/one.txt"), false));
    assertFalse(fs.exists(path("d/one.txt")));
    assertFalse(new File(disk, "d/one.txt").exists());
    assertTrue(fs.rename(path("d/two.txt"), path("d/three.txt")));
    assertArrayEquals(new byte[] {2}, get(path("d/three.txt")));
    assertFalse(fs.exists(path("d/two.txt")));
    assertTrue(fs.delete(path("d"), true));
    assertFalse(fs.exists(path("d/three.txt")));
  }
}
