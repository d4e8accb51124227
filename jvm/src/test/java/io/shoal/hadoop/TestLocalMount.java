package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.mountLocal;
import static io.shoal.hadoop.TestSupport.names;
import static io.shoal.hadoop.TestSupport.randomBytes;
import static io.shoal.hadoop.TestSupport.readAll;
import static io.shoal.hadoop.TestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.EOFException;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.CommonPathCapabilities;
import org.apache.hadoop.fs.EtagSource;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSExceptionMessages;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.PathIsNotEmptyDirectoryException;
import org.apache.hadoop.fs.StreamCapabilities;
import org.apache.hadoop.fs.statistics.IOStatistics;
import org.apache.hadoop.fs.statistics.IOStatisticsSource;
import org.apache.hadoop.security.UserGroupInformation;
import org.junit.After;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Shoal over local-directory mounts, through the public Hadoop API only: FileSystem instances come
 * from {@link FileSystem#newInstance} with no {@code fs.*.impl} keys set.
 *
 * <pre>
 *   /data         -> data/     (read-write)
 *   /data/nested  -> nested/   (a mount inside a mount)
 *   /ro           -> ro/       (readonly)
 * </pre>
 */
public class TestLocalMount {
  private static final byte[] HELLO = "hello shoal\n".getBytes(StandardCharsets.UTF_8);
  private static final int BIG = 5 << 20;

  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  private File data;
  private File nested;
  private File ro;
  private byte[] big;
  private Configuration conf;
  private FileSystem fs;

  @Before
  public void setUp() throws IOException {
    data = tmp.newFolder("data");
    nested = tmp.newFolder("nested");
    ro = tmp.newFolder("ro");
    write(new File(data, "hello.txt"), HELLO);
    write(new File(data, "empty.txt"), new byte[0]);
    big = randomBytes(BIG, 42);
    write(new File(data, "dir/big.bin"), big);
    write(new File(data, "dir/sub/b.txt"), "b".getBytes(StandardCharsets.UTF_8));
    write(new File(nested, "n.txt"), "nested".getBytes(StandardCharsets.UTF_8));
    write(new File(data, "nested/shadowed.txt"), "hidden".getBytes(StandardCharsets.UTF_8));
    write(new File(ro, "r.txt"), "readonly".getBytes(StandardCharsets.UTF_8));

    conf = conf();
    mountLocal(conf, "data", "/data", data);
    mountLocal(conf, "nested", "/data/nested", nested);
    mountLocal(conf, "ro", "/ro", ro);
    conf.set("shoal.mount.ro.readonly", "true");
    // A small buffer, so the tests cross the buffered / direct boundary often.
    conf.set(ShoalFileSystem.READ_BUFFER_SIZE, "64k");
    fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
  }

  @After
  public void tearDown() throws IOException {
    if (fs != null) {
      fs.close();
    }
  }

  private static Path p(String s) {
    return new Path("shoal://" + s);
  }

  private byte[] readFile(FileSystem f, Path path) throws IOException {
    try (FSDataInputStream in = f.open(path)) {
      return readAll(in);
    }
  }

  // ---- registration, URIs --------------------------------------------------------------------

  /**
   * The services file names ShoalFileSystem and AlluxioFileSystem (which load on every Hadoop);
   * loading them maps the schemes to their Hadoop 3.3 subclasses on this Hadoop (3.3.6).
   */
  @Test
  public void schemesAreRegisteredThroughServiceLoader() throws IOException {
    assertEquals(ShoalFileSystem33.class, FileSystem.getFileSystemClass("shoal", conf));
    assertEquals(AlluxioFileSystem33.class, FileSystem.getFileSystemClass("alluxio", conf));
    assertThat(fs).isInstanceOf(ShoalFileSystem33.class);
    assertEquals(URI.create("shoal:///"), fs.getUri());
    assertEquals("shoal", fs.getScheme());
    assertEquals(p("/"), fs.getWorkingDirectory());
    Path viaPath = new Path("shoal:///data/hello.txt");
    try (FileSystem f = FileSystem.newInstance(viaPath.toUri(), conf)) {
      assertArrayEquals(HELLO, readFile(f, viaPath));
    }
  }

  @Test
  public void alluxioAndShoalAuthoritiesNameTheSamePaths() throws IOException {
    Path alluxio = new Path("alluxio://master:19998/data/hello.txt");
    Path shoal = new Path("shoal://any-host:19998/data/hello.txt");
    try (FileSystem a = FileSystem.newInstance(alluxio.toUri(), conf);
        FileSystem s = FileSystem.newInstance(shoal.toUri(), conf)) {
      assertThat(a).isInstanceOf(AlluxioFileSystem33.class);
      assertEquals("alluxio", a.getScheme());
      assertEquals(URI.create("alluxio://master:19998"), a.getUri());
      assertEquals(URI.create("shoal://any-host:19998"), s.getUri());
      assertArrayEquals(HELLO, readFile(a, alluxio));
      assertArrayEquals(HELLO, readFile(s, shoal));
      assertArrayEquals(HELLO, readFile(a, new Path("/data/hello.txt")));
      FileStatus st = a.getFileStatus(alluxio);
      assertEquals(alluxio, st.getPath());
      for (FileStatus c : a.listStatus(new Path("/data"))) {
        assertEquals("alluxio", c.getPath().toUri().getScheme());
        assertEquals("master:19998", c.getPath().toUri().getAuthority());
      }
    }
    assertThrows(IllegalArgumentException.class, () -> fs.getFileStatus(alluxio));
  }

  // ---- status, listing, globbing -------------------------------------------------------------

  @Test
  public void fileAndDirectoryStatus() throws IOException {
    FileStatus st = fs.getFileStatus(p("/data/hello.txt"));
    assertTrue(st.isFile());
    assertEquals(HELLO.length, st.getLen());
    assertEquals(p("/data/hello.txt"), st.getPath());
    assertEquals(UserGroupInformation.getCurrentUser().getShortUserName(), st.getOwner());
    assertEquals(128L << 20, st.getBlockSize());
    assertEquals(1, st.getReplication());
    assertThat(st).isInstanceOf(ShoalFileStatus.class).isInstanceOf(EtagSource.class);
    assertThat(((ShoalFileStatus) st).getVersion()).isNotEmpty();
    assertThat(st.getModificationTime()).isEqualTo(new File(data, "hello.txt").lastModified());

    FileStatus dir = fs.getFileStatus(p("/data/dir"));
    assertTrue(dir.isDirectory());
    assertEquals(0, dir.getLen());
    assertTrue(fs.getFileStatus(new Path("/data/dir/")).isDirectory());
    assertTrue(fs.getFileStatus(p("/")).isDirectory());
    assertTrue(fs.exists(p("/data/empty.txt")));
    assertEquals(0, fs.getFileStatus(p("/data/empty.txt")).getLen());
    assertFalse(fs.exists(p("/data/missing")));
  }

  @Test
  public void blockSizeComesFromConfiguration() throws IOException {
    Configuration c = new Configuration(conf);
    c.set(ShoalFileSystem.BLOCK_SIZE, "64m");
    try (FileSystem f = FileSystem.newInstance(URI.create("shoal:///"), c)) {
      assertEquals(64L << 20, f.getFileStatus(p("/data/hello.txt")).getBlockSize());
      assertEquals(64L << 20, f.getDefaultBlockSize(p("/data")));
    }
  }

  @Test
  public void rootListsMountPointsAsDirectories() throws IOException {
    FileStatus[] root = fs.listStatus(p("/"));
    assertThat(names(root)).containsExactlyInAnyOrder("data/", "ro/");
    for (FileStatus s : root) {
      assertEquals(p("/" + s.getPath().getName()), s.getPath());
    }
  }

  @Test
  public void listDirectoryAndFile() throws IOException {
    assertThat(names(fs.listStatus(p("/data/dir")))).containsExactlyInAnyOrder("big.bin", "sub/");
    FileStatus[] dir = fs.listStatus(p("/data/dir"));
    for (FileStatus s : dir) {
      assertEquals(p("/data/dir/" + s.getPath().getName()), s.getPath());
      if (s.isFile()) {
        assertEquals(BIG, s.getLen());
      }
    }
    FileStatus[] file = fs.listStatus(p("/data/hello.txt"));
    assertEquals(1, file.length);
    assertEquals(p("/data/hello.txt"), file[0].getPath());
    assertThrows(FileNotFoundException.class, () -> fs.listStatus(p("/data/missing")));
    assertThat(fs.listStatus(p("/data/dir/sub"))).hasSize(1);
  }

  @Test
  public void globbing() throws IOException {
    FileStatus[] g = fs.globStatus(p("/data/*.txt"));
    assertThat(names(g)).containsExactlyInAnyOrder("hello.txt", "empty.txt");
    assertThat(names(fs.globStatus(p("/data/dir/*/b.txt")))).containsExactly("b.txt");
    assertThat(names(fs.globStatus(new Path("/*")))).containsExactlyInAnyOrder("data/", "ro/");
    assertThat(fs.globStatus(p("/data/none*"))).isEmpty();
  }

  @Test
  public void nestedMountWinsOverItsParent() throws IOException {
    assertArrayEquals(
        "nested".getBytes(StandardCharsets.UTF_8), readFile(fs, p("/data/nested/n.txt")));
    assertTrue(fs.getFileStatus(p("/data/nested")).isDirectory());
    assertThat(names(fs.listStatus(p("/data/nested")))).containsExactly("n.txt");
    // The parent mount's own nested/ directory is shadowed.
    assertThrows(
        FileNotFoundException.class, () -> fs.getFileStatus(p("/data/nested/shadowed.txt")));
  }

  // ---- reading -------------------------------------------------------------------------------

  @Test
  public void sequentialReadsSeekAndEof() throws IOException {
    try (FSDataInputStream in = fs.open(p("/data/hello.txt"))) {
      assertEquals(0, in.getPos());
      assertEquals('h', in.read());
      assertEquals(1, in.getPos());
      byte[] buf = new byte[4];
      assertEquals(4, in.read(buf, 0, 4));
      assertArrayEquals(Arrays.copyOfRange(HELLO, 1, 5), buf);
      assertEquals(HELLO.length - 5, in.available());
      in.seek(6);
      assertEquals('s', in.read());
      in.seek(0);
      assertEquals('h', in.read());
      in.seek(HELLO.length - 1);
      assertEquals('\n', in.read());
      assertEquals(-1, in.read());
      assertEquals(-1, in.read(buf, 0, 4));
      assertEquals(0, in.read(buf, 0, 0));
      assertEquals(0, in.available());
      in.seek(HELLO.length);
      assertEquals(-1, in.read());

      EOFException neg = assertThrows(EOFException.class, () -> in.seek(-1));
      assertThat(neg.getMessage()).contains(FSExceptionMessages.NEGATIVE_SEEK);
      EOFException past = assertThrows(EOFException.class, () -> in.seek(HELLO.length + 1));
      assertThat(past.getMessage()).contains(FSExceptionMessages.CANNOT_SEEK_PAST_EOF);

      assertThrows(NullPointerException.class, () -> in.read(null, 0, 1));
      assertThrows(IndexOutOfBoundsException.class, () -> in.read(buf, -1, 1));
      assertThrows(IndexOutOfBoundsException.class, () -> in.read(buf, 0, 5));
      assertThrows(IndexOutOfBoundsException.class, () -> in.read(buf, 2, -1));
    }
  }

  @Test
  public void skipAndAvailable() throws IOException {
    try (FSDataInputStream in = fs.open(p("/data/hello.txt"))) {
      assertEquals(HELLO.length, in.available());
      assertEquals(6, in.skip(6));
      assertEquals(6, in.getPos());
      assertEquals('s', in.read());
      assertEquals(0, in.skip(0));
      assertEquals(0, in.skip(-5));
      assertEquals(HELLO.length - 7, in.skip(1000));
      assertEquals(HELLO.length, in.getPos());
      assertEquals(0, in.skip(1));
      assertEquals(-1, in.read());
    }
  }

  @Test
  public void positionedReadsDoNotMoveThePosition() throws IOException {
    try (FSDataInputStream in = fs.open(p("/data/dir/big.bin"))) {
      in.seek(100);
      byte[] buf = new byte[1000];
      assertEquals(1000, in.read(3_000_000, buf, 0, 1000));
      assertArrayEquals(Arrays.copyOfRange(big, 3_000_000, 3_001_000), buf);
      assertEquals(100, in.getPos());
      in.readFully(BIG - 1000, buf);
      assertArrayEquals(Arrays.copyOfRange(big, BIG - 1000, BIG), buf);
      assertEquals(100, in.getPos());
      // A short read at the end, then -1 past it.
      assertEquals(10, in.read(BIG - 10, buf, 0, 1000));
      assertEquals(-1, in.read(BIG, buf, 0, 1));
      assertEquals(-1, in.read(BIG + 10, buf, 0, 1));
      assertThrows(EOFException.class, () -> in.readFully(BIG - 10, new byte[11]));
      assertThrows(EOFException.class, () -> in.readFully(-1, new byte[1]));
      assertThrows(EOFException.class, () -> in.read(-1, new byte[1], 0, 1));
      assertThrows(IllegalArgumentException.class, () -> in.read(0, null, 0, 1));
      assertThrows(IndexOutOfBoundsException.class, () -> in.read(0, buf, -1, 1));
      assertThrows(IndexOutOfBoundsException.class, () -> in.read(0, buf, 999, 2));
      assertEquals(big[100], (byte) in.read());
    }
  }

  @Test
  public void closedStreamRefusesEverything() throws IOException {
    FSDataInputStream in = fs.open(p("/data/hello.txt"));
    in.read();
    in.close();
    in.close();
    for (ThrowingRunnable op :
        new ThrowingRunnable[] {
          in::read,
          () -> in.read(new byte[2], 0, 2),
          () -> in.read(0, new byte[2], 0, 2),
          () -> in.readFully(0, new byte[2]),
          () -> in.seek(0),
          () -> in.skip(1),
          in::available,
          () -> in.read(ByteBuffer.allocateDirect(2)),
        }) {
      IOException e = assertThrows(IOException.class, op::run);
      assertThat(e.getMessage()).contains(FSExceptionMessages.STREAM_IS_CLOSED);
    }
  }

  /** A test action that may throw. */
  interface ThrowingRunnable {
    void run() throws Exception;
  }

  @Test
  public void openingMissingFilesAndDirectoriesFails() {
    assertThrows(FileNotFoundException.class, () -> fs.open(p("/data/missing.txt")));
    assertThrows(FileNotFoundException.class, () -> fs.open(p("/data/dir")));
    assertThrows(FileNotFoundException.class, () -> fs.open(p("/nomount/file")));
    assertThrows(FileNotFoundException.class, () -> fs.getFileStatus(p("/nomount/file")));
    assertThrows(FileNotFoundException.class, () -> fs.getFileStatus(p("/nomount")));
  }

  @Test
  public void byteBufferReads() throws IOException {
    try (FSDataInputStream in = fs.open(p("/data/dir/big.bin"))) {
      assertTrue(in.hasCapability(StreamCapabilities.READBYTEBUFFER));
      assertTrue(in.hasCapability(StreamCapabilities.PREADBYTEBUFFER));
      ByteBuffer direct = ByteBuffer.allocateDirect(300_000);
      direct.position(7);
      assertEquals(300_000 - 7, in.read(direct));
      assertEquals(300_000, direct.position());
      assertEquals(300_000 - 7, in.getPos());
      direct.flip();
      direct.position(7);
      byte[] got = new byte[300_000 - 7];
      direct.get(got);
      assertArrayEquals(Arrays.copyOfRange(big, 0, got.length), got);

      ByteBuffer heap = ByteBuffer.allocate(1000);
      assertEquals(1000, in.read(heap));
      assertArrayEquals(Arrays.copyOfRange(big, got.length, got.length + 1000), heap.array());

      ByteBuffer tail = ByteBuffer.allocateDirect(100);
      in.seek(BIG - 40);
      assertEquals(40, in.read(tail));
      assertEquals(-1, in.read(tail));
      assertEquals(0, in.read(ByteBuffer.allocateDirect(0)));

      ByteBuffer pread = ByteBuffer.allocateDirect(64);
      in.readFully(1_000_000, pread);
      pread.flip();
      byte[] pg = new byte[64];
      pread.get(pg);
      assertArrayEquals(Arrays.copyOfRange(big, 1_000_000, 1_000_064), pg);
      assertEquals(BIG, in.getPos());
      assertThrows(EOFException.class, () -> in.readFully(BIG - 1, ByteBuffer.allocateDirect(2)));
    }
  }

  @Test
  @SuppressWarnings("deprecation")
  public void bigFileMixedReadsMatchByteForByte() throws IOException {
    Random random = new Random(7);
    byte[] got = new byte[BIG];
    try (FSDataInputStream in = fs.open(p("/data/dir/big.bin"))) {
      int pos = 0;
      while (pos < BIG) {
        int kind = random.nextInt(5);
        int n;
        if (kind == 0) {
          int b = in.read();
          assertThat(b).isNotNegative();
          got[pos] = (byte) b;
          n = 1;
        } else if (kind == 1) {
          n = in.read(got, pos, Math.min(BIG - pos, 1 + random.nextInt(100)));
        } else if (kind == 2) {
          n = in.read(got, pos, Math.min(BIG - pos, 1 + random.nextInt(200_000)));
        } else if (kind == 3) {
          n = in.read(got, pos, Math.min(BIG - pos, 1 + random.nextInt(2 << 20)));
        } else {
          // A positioned read in between, which must not disturb the sequential position.
          int at = random.nextInt(BIG - 10);
          byte[] b = new byte[10];
          in.readFully(at, b);
          assertArrayEquals(Arrays.copyOfRange(big, at, at + 10), b);
          n = 0;
        }
        assertThat(n).isNotNegative();
        pos += n;
        assertEquals(pos, in.getPos());
      }
      assertEquals(-1, in.read());
    }
    assertArrayEquals(big, got);

    try (FSDataInputStream in = fs.open(p("/data/dir/big.bin"))) {
      for (int i = 0; i < 200; i++) {
        int at = random.nextInt(BIG);
        in.seek(at);
        int len = Math.min(BIG - at, random.nextBoolean() ? 1 + random.nextInt(64) : 1 << 17);
        byte[] b = new byte[len];
        in.readFully(b);
        assertArrayEquals("at " + at, Arrays.copyOfRange(big, at, at + len), b);
      }
    }
    FileSystem.Statistics stats = FileSystem.getStatistics("shoal", fs.getClass());
    assertThat(stats.getBytesRead()).isGreaterThanOrEqualTo(BIG);
  }

  @Test
  public void concurrentPositionedReadsOnOneStream() throws Exception {
    try (FSDataInputStream in = fs.open(p("/data/dir/big.bin"))) {
      ExecutorService pool = Executors.newFixedThreadPool(8);
      try {
        List<Future<?>> results = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
          final long seed = t;
          results.add(
              pool.submit(
                  () -> {
                    Random r = new Random(seed);
                    for (int i = 0; i < 100; i++) {
                      int at = r.nextInt(BIG - 1);
                      byte[] b = new byte[Math.min(BIG - at, 1 + r.nextInt(300_000))];
                      in.readFully(at, b);
                      assertArrayEquals(Arrays.copyOfRange(big, at, at + b.length), b);
                    }
                    return null;
                  }));
        }
        for (Future<?> f : results) {
          f.get(60, TimeUnit.SECONDS);
        }
      } finally {
        pool.shutdownNow();
      }
      assertEquals(0, in.getPos());
    }
  }

  @Test
  public void closeWhileAnotherThreadReadsIsSafe() throws Exception {
    for (int round = 0; round < 20; round++) {
      FSDataInputStream in = fs.open(p("/data/dir/big.bin"));
      CountDownLatch started = new CountDownLatch(1);
      Thread reader =
          new Thread(
              () -> {
                byte[] b = new byte[1 << 20];
                started.countDown();
                try {
                  for (int i = 0; ; i = (i + 1) % 4) {
                    in.readFully(i << 20, b);
                  }
                } catch (IOException expected) {
                  // The stream was closed under us: the only acceptable outcome.
                }
              });
      reader.start();
      started.await();
      in.close();
      reader.join(30_000);
      assertFalse("reader still running", reader.isAlive());
    }
  }

  @Test
  public void closeProcessesDeleteOnExit() throws IOException {
    FileSystem f = FileSystem.newInstance(URI.create("shoal:///"), conf);
    try (FSDataOutputStream out = f.create(p("/data/temporary.txt"))) {
      out.write(HELLO);
    }
    assertTrue(f.deleteOnExit(p("/data/temporary.txt")));
    assertTrue(new File(data, "temporary.txt").isFile());
    f.close();
    assertFalse(new File(data, "temporary.txt").exists());
  }

  @Test
  public void smallReadsAreServedFromTheJavaBuffer() throws IOException {
    FSDataInputStream in = fs.open(p("/data/dir/big.bin"));
    try {
      for (int i = 0; i < 10_000; i++) {
        assertEquals(big[i] & 0xff, in.read());
      }
      byte[] b = new byte[100];
      for (int i = 0; i < 100; i++) {
        in.readFully(b);
      }
      IOStatistics stats = in.getIOStatistics();
      // 20,000 bytes from one 64 KiB buffer fill.
      assertEquals(Long.valueOf(1), stats.counters().get(ShoalInputStream.NATIVE_READS));
      assertEquals(Long.valueOf(20_000), stats.counters().get(ShoalInputStream.BYTES_READ));
      assertTrue(in.hasCapability(StreamCapabilities.IOSTATISTICS));
      // A read of at least the buffer size goes to native code directly.
      in.readFully(new byte[64 << 10]);
      assertEquals(
          Long.valueOf(2), in.getIOStatistics().counters().get(ShoalInputStream.NATIVE_READS));
      assertThat(stats.counters().keySet()).contains(io.shoal.jni.NativeFs.counterNames());
      in.close();
      assertEquals(
          Long.valueOf(20_000 + (64 << 10)),
          in.getIOStatistics().counters().get(ShoalInputStream.BYTES_READ));
    } finally {
      in.close();
    }
    assertThat(((IOStatisticsSource) fs).getIOStatistics().counters())
        .containsKeys(io.shoal.jni.NativeFs.counterNames());
  }

  @Test
  public void openFileWithStatusReadsWithoutLookup() throws Exception {
    FileStatus st = fs.getFileStatus(p("/data/hello.txt"));
    try (FSDataInputStream in =
        fs.openFile(p("/data/hello.txt")).withFileStatus(st).build().get()) {
      assertArrayEquals(HELLO, readAll(in));
    }
    assertThrows(
        IllegalArgumentException.class,
        () -> fs.openFile(p("/data/hello.txt")).must("fs.shoal.unknown", true).build());
  }

  // ---- writing -------------------------------------------------------------------------------

  @Test
  @SuppressWarnings("deprecation")
  public void createWriteAndReadBack() throws IOException {
    Path path = p("/data/out/new.bin");
    byte[] payload = randomBytes(3 << 20, 3);
    try (FSDataOutputStream out = fs.create(path, false)) {
      out.write(payload, 0, 10);
      out.write(payload[10]);
      out.write(payload, 11, 2 << 20);
      out.write(payload, 11 + (2 << 20), payload.length - 11 - (2 << 20));
      assertEquals(payload.length, out.getPos());
      assertFalse("data becomes visible on close", new File(data, "out/new.bin").exists());
    }
    assertArrayEquals(payload, Files.readAllBytes(new File(data, "out/new.bin").toPath()));
    assertArrayEquals(payload, readFile(fs, path));
    assertEquals(payload.length, fs.getFileStatus(path).getLen());

    assertThrows(FileAlreadyExistsException.class, () -> fs.create(path, false));
    assertThrows(FileAlreadyExistsException.class, () -> fs.create(p("/data/dir"), false));
    try (FSDataOutputStream out = fs.create(path, true)) {
      out.write(HELLO);
    }
    assertArrayEquals(HELLO, readFile(fs, path));
    FileSystem.Statistics stats = FileSystem.getStatistics("shoal", fs.getClass());
    assertThat(stats.getBytesWritten()).isGreaterThanOrEqualTo(payload.length);
  }

  @Test
  public void closedOutputStreamRefusesWrites() throws IOException {
    FSDataOutputStream out = fs.create(p("/data/closed.txt"));
    out.write(1);
    out.close();
    out.close();
    assertThrows(IOException.class, () -> out.write(2));
    assertEquals(1, fs.getFileStatus(p("/data/closed.txt")).getLen());
  }

  @Test
  public void mkdirsDeleteRename() throws IOException {
    assertTrue(fs.mkdirs(p("/data/m/n/o")));
    assertTrue(new File(data, "m/n/o").isDirectory());
    assertTrue(fs.getFileStatus(p("/data/m/n")).isDirectory());
    assertTrue(fs.mkdirs(p("/data/m/n/o")));

    assertThrows(PathIsNotEmptyDirectoryException.class, () -> fs.delete(p("/data/m"), false));
    assertTrue(fs.delete(p("/data/m/n/o"), false));
    assertTrue(fs.delete(p("/data/m"), true));
    assertFalse(new File(data, "m").exists());
    assertFalse(fs.delete(p("/data/m"), true));

    assertTrue(fs.rename(p("/data/hello.txt"), p("/data/renamed.txt")));
    assertFalse(fs.exists(p("/data/hello.txt")));
    assertArrayEquals(HELLO, readFile(fs, p("/data/renamed.txt")));
    assertFalse(fs.rename(p("/data/missing.txt"), p("/data/x.txt")));
  }

  @Test
  public void readonlyMountRefusesWrites() throws IOException {
    assertArrayEquals("readonly".getBytes(StandardCharsets.UTF_8), readFile(fs, p("/ro/r.txt")));
    assertThrows(AccessDeniedException.class, () -> fs.create(p("/ro/new.txt")));
    assertThrows(AccessDeniedException.class, () -> fs.create(p("/ro/r.txt"), true));
    assertThrows(AccessDeniedException.class, () -> fs.mkdirs(p("/ro/d")));
    assertThrows(AccessDeniedException.class, () -> fs.delete(p("/ro/r.txt"), false));
    assertThrows(AccessDeniedException.class, () -> fs.rename(p("/ro/r.txt"), p("/ro/s.txt")));
    assertTrue(new File(ro, "r.txt").isFile());
    assertFalse(new File(ro, "new.txt").exists());
  }

  @Test
  public void unsupportedOperations() throws IOException {
    UnsupportedOperationException e =
        assertThrows(UnsupportedOperationException.class, () -> fs.append(p("/data/hello.txt")));
    assertThat(e.getMessage()).contains("append is not supported by Shoal mounts");
    Path path = p("/data/hello.txt");
    assertFalse(fs.hasPathCapability(path, CommonPathCapabilities.FS_APPEND));
    assertFalse(fs.hasPathCapability(path, CommonPathCapabilities.FS_CONCAT));
    assertFalse(fs.hasPathCapability(path, CommonPathCapabilities.FS_TRUNCATE));
    assertNull(fs.getCanonicalServiceName());
  }

  // ---- errors --------------------------------------------------------------------------------

  @Test
  public void mountWithoutUriNamesTheKey() {
    Configuration c = conf();
    c.set("shoal.mount.bad.path", "/bad");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> FileSystem.newInstance(URI.create("shoal:///"), c).close());
    assertThat(e.getMessage()).contains("shoal.mount.bad.uri");
  }

  @Test
  public void pathsCannotEscapeThroughDotDot() throws IOException {
    // Hadoop resolves inner "..": /data/dir/../hello.txt is /data/hello.txt.
    assertArrayEquals(HELLO, readFile(fs, p("/data/dir/../hello.txt")));
    // What is left climbs above the root, which the core refuses.
    Path escape = new Path("shoal:///../" + tmp.getRoot().getName() + "/data/hello.txt");
    assertThat(escape.toUri().getPath()).startsWith("/..");
    Exception e = assertThrows(Exception.class, () -> readFile(fs, escape));
    assertThat(e).isInstanceOfAny(IllegalArgumentException.class, IOException.class);
  }

  @Test
  public void closedFileSystemRefusesEverything() throws IOException {
    FileSystem f = FileSystem.newInstance(URI.create("shoal:///"), conf);
    FSDataInputStream open = f.open(p("/data/hello.txt"));
    f.close();
    f.close();
    for (ThrowingRunnable op :
        new ThrowingRunnable[] {
          () -> f.getFileStatus(p("/data/hello.txt")),
          () -> f.listStatus(p("/data")),
          () -> f.open(p("/data/hello.txt")),
          () -> f.create(p("/data/x")),
          () -> f.mkdirs(p("/data/y")),
          () -> f.delete(p("/data/hello.txt"), false),
          () -> f.rename(p("/data/hello.txt"), p("/data/z")),
          () -> f.exists(p("/data/hello.txt")),
        }) {
      IOException e = assertThrows(IOException.class, op::run);
      assertThat(e).isNotInstanceOf(FileNotFoundException.class);
      assertThat(e.getMessage()).contains("filesystem closed");
    }
    // A stream opened before the close still reads.
    assertArrayEquals(HELLO, readAll(open));
    open.close();
    assertTrue(new File(data, "hello.txt").isFile());
  }
}
