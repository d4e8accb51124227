package io.shoal.hadoop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.util.VersionInfo;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The one jar on older Hadoop releases and other Java runtimes. Each case starts a child JVM whose
 * class path has an older release's client jars (hadoop-client-api and -runtime; the build passes
 * them per release in {@code shoal.test.hadoop.<version>.classpath}) and Shoal's classes, resources
 * and native library, and no other Hadoop jar. The child:
 *
 * <ul>
 *   <li>lets Hadoop load its FileSystem services with Shoal's on the class path and opens {@code
 *       file:///} (a services entry that does not load breaks every scheme);
 *   <li>loads and initializes every class of {@code jvm/src/main} in {@code io.shoal.hadoop} and
 *       {@code io.shoal.jni} (the classes that must load everywhere), and reports which {@code
 *       jvm/src/hadoop33} classes load;
 *   <li>opens {@code shoal:///} and {@code alluxio:///} with no {@code fs.*.impl} set, writes,
 *       lists, reads twice (the second time from the cache), reads positioned into a direct buffer,
 *       asks for capabilities, renames and deletes, and lists the public methods of the FileSystem
 *       classes (what Py4J does on a PySpark call);
 *   <li>where the release has them, uses {@code openFile} with a status, the stream's and the
 *       filesystem's IOStatistics, and ETags.
 * </ul>
 *
 * This JVM checks what the child printed against what each release offers: 3.2.0 (Spark 3.1) none
 * of the newer interfaces, 3.3.1 (Spark 3.2) IOStatistics and ByteBufferPositionedReadable, 3.3.4
 * (Spark 3.3 to 3.5) EtagSource too. The build's own tests run 3.3.6, with vectored reads. The Java
 * runtimes in {@code shoal.test.java.homes} ({@code 11=/path,21=/path}) run the oldest and the
 * newest release here as well.
 */
public class TestOlderHadoop {
  static final String VERSIONS = "shoal.test.hadoop.versions";
  static final String JAVA_HOMES = "shoal.test.java.homes";

  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  /** What the child JVM runs, printing {@code key=value} lines. */
  public static final class Child {
    private static final PrintStream OUT = System.out;

    private static void put(String key, Object value) {
      OUT.println(key + "=" + value);
    }

    private static boolean hadoopHas(String className) {
      try {
        Class.forName(className, false, Child.class.getClassLoader());
        return true;
      } catch (ClassNotFoundException | LinkageError e) {
        return false;
      }
    }

    private static boolean isA(Object o, String className) {
      try {
        return Class.forName(className, false, Child.class.getClassLoader()).isInstance(o);
      } catch (ClassNotFoundException | LinkageError e) {
        return false;
      }
    }

    /** Class names under {@code io/shoal/hadoop} and {@code io/shoal/jni} of a dir or jar. */
    static List<String> shoalClasses(File root) throws IOException {
      List<String> names = new ArrayList<>();
      if (root.isDirectory()) {
        for (String pkg : new String[] {"io/shoal/hadoop", "io/shoal/jni"}) {
          File dir = new File(root, pkg);
          String[] files = dir.list();
          if (files != null) {
            for (String f : files) {
              if (f.endsWith(".class")) {
                names.add(pkg.replace('/', '.') + "." + f.substring(0, f.length() - 6));
              }
            }
          }
        }
      } else if (root.isFile()) {
        try (JarFile jar = new JarFile(root)) {
          for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements(); ) {
            String n = e.nextElement().getName();
            if ((n.startsWith("io/shoal/hadoop/") || n.startsWith("io/shoal/jni/"))
                && n.endsWith(".class")
                && n.indexOf('/', 13) == n.lastIndexOf('/')) {
              names.add(n.substring(0, n.length() - 6).replace('/', '.'));
            }
          }
        }
      }
      names.sort(null);
      return names;
    }

    /** Loads and initializes each class; returns those that fail, with the missing type. */
    static Map<String, String> unloadable(List<String> names) {
      Map<String, String> failed = new TreeMap<>();
      for (String n : names) {
        try {
          Class.forName(n, true, Child.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
          failed.put(n.substring(n.lastIndexOf('.') + 1), e.getClass().getSimpleName());
        }
      }
      return failed;
    }

    private static byte[] readAll(FSDataInputStream in) throws IOException {
      return TestSupport.readAll(in);
    }

    public static void main(String[] args) throws Exception {
      File dir = new File(args[0]);
      File mainClasses = new File(args[1]);
      File hadoop33Classes = new File(args[2]);
      put("hadoop", VersionInfo.getVersion());
      put("java", System.getProperty("java.specification.version"));

      Configuration conf = new Configuration();
      // Hadoop loads every FileSystem service here, Shoal's among them.
      put("file", FileSystem.get(URI.create("file:///"), conf).getClass().getSimpleName());
      put("shoal_class", FileSystem.getFileSystemClass("shoal", conf).getSimpleName());
      put("alluxio_class", FileSystem.getFileSystemClass("alluxio", conf).getSimpleName());

      put("main_unloadable", unloadable(shoalClasses(mainClasses)));
      put("hadoop33_unloadable", unloadable(shoalClasses(hadoop33Classes)).keySet());

      TestSupport.mountLocal(conf, "m", "/m", new File(dir, "data"));
      conf.set("shoal.mount.m.cache", "true");
      conf.set("shoal.cache.dirs", new File(dir, "cache").getAbsolutePath() + ":64m");
      // Every open asks for the file's status, unless openFile is given one.
      conf.set("shoal.metadata.ttl", "0");
      byte[] expected = TestSupport.randomBytes(3 << 20, 32);
      try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf);
          FileSystem alluxio =
              FileSystem.newInstance(URI.create("alluxio://master:19998/"), conf)) {
        put("fs", fs.getClass().getSimpleName());
        put("alluxio_fs", alluxio.getClass().getSimpleName() + "/" + alluxio.getScheme());
        put("fs_methods", fs.getClass().getMethods().length > 0);
        put("alluxio_methods", alluxio.getClass().getMethods().length > 0);
        Path file = new Path("/m/dir/f.bin");
        try (FSDataOutputStream out = fs.create(file, false)) {
          out.write(expected);
        }
        FileStatus st = fs.getFileStatus(file);
        put("status", st.getClass().getSimpleName());
        put("status_etag_source", isA(st, "org.apache.hadoop.fs.EtagSource"));
        RemoteIterator<LocatedFileStatus> files = fs.listFiles(new Path("/m"), true);
        LocatedFileStatus located = files.next();
        put("located", located.getClass().getSimpleName() + ":" + located.getPath());
        put("located_etag_source", isA(located, "org.apache.hadoop.fs.EtagSource"));
        put("listing", fs.listStatus(new Path("/m/dir")).length);
        // The paged iterators, as Spark's file index and Hadoop's non-recursive listFiles use.
        RemoteIterator<FileStatus> paged = fs.listStatusIterator(new Path("/m/dir"));
        put("listing_iterator", paged.next().getPath().getName() + ":" + paged.hasNext());
        put("listing_located", fs.listFiles(new Path("/m/dir"), false).next().getLen());
        for (int round = 0; round < 2; round++) {
          try (FSDataInputStream in = fs.open(file)) {
            put("read_" + round, Arrays.equals(expected, readAll(in)));
            Object wrapped = in.getWrappedStream();
            put("stream", wrapped.getClass().getSimpleName());
            put(
                "stream_pread_bytebuffer",
                isA(wrapped, "org.apache.hadoop.fs.ByteBufferPositionedReadable"));
            put(
                "stream_iostatistics_source",
                isA(wrapped, "org.apache.hadoop.fs.statistics.IOStatisticsSource"));
            put(
                "capabilities",
                Arrays.stream(
                        new String[] {
                          "in:unbuffer",
                          "in:readbytebuffer",
                          "in:preadbytebuffer",
                          "iostatistics",
                          "in:readvectored"
                        })
                    .filter(in::hasCapability)
                    .collect(Collectors.toList()));
            // Positioned into a direct buffer: the stream's own method on every Hadoop.
            ByteBuffer buf = ByteBuffer.allocateDirect(1000);
            ((ShoalInputStream) wrapped).readFully(1 << 20, buf);
            buf.flip();
            byte[] got = new byte[1000];
            buf.get(got);
            put(
                "pread",
                Arrays.equals(Arrays.copyOfRange(expected, 1 << 20, (1 << 20) + 1000), got));
            in.unbuffer();
          }
        }
        put("cache_hits_positive", fs.getStorageStatistics().getLong("cache_hits") > 0);
        put(
            "append_capability",
            ((ShoalFileSystem) fs).hasPathCapability(file, "fs.capability.paths.append"));
        try (FSDataInputStream in = alluxio.open(new Path("alluxio://master:19998/m/dir/f.bin"))) {
          put("alluxio_read", Arrays.equals(expected, readAll(in)));
        }
        if (hadoopHas("org.apache.hadoop.fs.statistics.IOStatisticsSource")) {
          Newer.run(fs, file, st, expected);
        }
        put("rename", fs.rename(file, new Path("/m/dir/g.bin")));
        put("delete", fs.delete(new Path("/m/dir"), true) && !fs.exists(new Path("/m/dir")));
      }
      put("done", true);
    }
  }

  /** The parts that name Hadoop 3.3 API; loaded only where the child found IOStatistics. */
  static final class Newer {
    static void run(FileSystem fs, Path file, FileStatus st, byte[] expected) throws Exception {
      long before = fs.getStorageStatistics().getLong("store_metadata_requests");
      try (FSDataInputStream in = fs.openFile(file).withFileStatus(st).build().get()) {
        Child.put("open_file", Arrays.equals(expected, TestSupport.readAll(in)));
        Child.put(
            "stream_iostatistics",
            ((org.apache.hadoop.fs.statistics.IOStatisticsSource) in.getWrappedStream())
                .getIOStatistics()
                .counters()
                .containsKey(ShoalInputStream.BYTES_READ));
        ByteBuffer buf = ByteBuffer.allocate(10);
        in.readFully(5, buf);
        Child.put("fsdata_pread_bytebuffer", buf.position() == 10);
      }
      Child.put(
          "open_file_metadata_requests",
          fs.getStorageStatistics().getLong("store_metadata_requests") - before);
      Child.put(
          "fs_iostatistics",
          ((org.apache.hadoop.fs.statistics.IOStatisticsSource) fs)
              .getIOStatistics()
              .counters()
              .containsKey("cache_hits"));
    }
  }

  /** A child JVM's output as a map, after checking that it ran to the end. */
  private Map<String, String> runChild(String hadoop, String javaHome)
      throws IOException, InterruptedException {
    String hadoopCp = System.getProperty("shoal.test.hadoop." + hadoop + ".classpath");
    assertThat(hadoopCp)
        .as("shoal.test.hadoop." + hadoop + ".classpath (set by the build)")
        .isNotEmpty();
    // Shoal's classes and resources, the test classes and the other test jars, but no Hadoop jar
    // but the release's own.
    List<String> cp = new ArrayList<>(Arrays.asList(hadoopCp.split(File.pathSeparator)));
    for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (!new File(e).getName().startsWith("hadoop-")) {
        cp.add(e);
      }
    }
    File dir = tmp.newFolder("hadoop-" + hadoop + "-java-" + new File(javaHome).getName());
    assertTrue(new File(dir, "data").mkdir());
    File out = new File(dir, "child.log");
    ProcessBuilder pb =
        new ProcessBuilder(
            new File(javaHome, "bin/java").getPath(),
            "-Xmx256m",
            "-cp",
            String.join(File.pathSeparator, cp),
            Child.class.getName(),
            dir.getAbsolutePath(),
            classesDir(ShoalFileSystem.class).getPath(),
            classesDir(ShoalFileSystem33.class).getPath());
    pb.redirectErrorStream(true);
    pb.redirectOutput(out);
    Process p = pb.start();
    assertTrue("child JVM finished", p.waitFor(180, TimeUnit.SECONDS));
    String log = new String(Files.readAllBytes(out.toPath()), StandardCharsets.UTF_8);
    assertEquals(log, 0, p.exitValue());
    Map<String, String> values = new LinkedHashMap<>();
    for (String line : log.split("\n")) {
      int eq = line.indexOf('=');
      if (eq > 0 && line.substring(0, eq).matches("[a-z0-9_]+")) {
        values.put(line.substring(0, eq), line.substring(eq + 1).trim());
      }
    }
    assertEquals(log, "true", values.get("done"));
    assertEquals(log, hadoop, values.get("hadoop"));
    values.put("log", log);
    return values;
  }

  private static File classesDir(Class<?> c) {
    try {
      return new File(c.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  /** What every release must show, whatever it offers. */
  private static void checkCommon(Map<String, String> v) {
    String log = v.get("log");
    assertEquals(log, "LocalFileSystem", v.get("file"));
    assertEquals(log, "{}", v.get("main_unloadable"));
    assertEquals(log, v.get("shoal_class"), v.get("fs"));
    assertEach(
        v,
        "true",
        "fs_methods",
        "alluxio_methods",
        "read_0",
        "read_1",
        "pread",
        "cache_hits_positive",
        "alluxio_read",
        "rename",
        "delete");
    assertEquals(log, "false", v.get("append_capability"));
    assertEquals(log, "1", v.get("listing"));
    assertEquals(log, "f.bin:false", v.get("listing_iterator"));
    assertEquals(log, String.valueOf(3 << 20), v.get("listing_located"));
    assertThat(v.get("located")).as(log).endsWith(":shoal:/m/dir/f.bin");
  }

  /** A printed {@code [a, b]} as a set. */
  private static TreeSet<String> set(String printed) {
    TreeSet<String> out = new TreeSet<>();
    String inner = printed == null ? "" : printed.replaceAll("^\\[|\\]$", "");
    for (String s : inner.split(",")) {
      if (!s.trim().isEmpty()) {
        out.add(s.trim());
      }
    }
    return out;
  }

  private static final String[] HADOOP33_CLASSES = {
    "AlluxioFileSystem33",
    "ShoalFileStatus33",
    "ShoalFileSystem33",
    "ShoalIOStatistics",
    "ShoalInputStream33",
    "ShoalInputStream335",
    "ShoalLocatedFileStatus33"
  };

  /** Hadoop 3.2.0 (Spark 3.1): the 3.2 classes only, the 3.3 ones do not even load. */
  private static void check320(Map<String, String> v) {
    String log = v.get("log");
    checkCommon(v);
    assertEquals(log, "ShoalFileSystem", v.get("shoal_class"));
    assertEquals(log, "AlluxioFileSystem", v.get("alluxio_class"));
    assertEquals(log, "AlluxioFileSystem/alluxio", v.get("alluxio_fs"));
    assertThat(set(v.get("hadoop33_unloadable"))).as(log).contains(HADOOP33_CLASSES);
    assertEquals(log, "ShoalFileStatus", v.get("status"));
    assertEquals(log, "ShoalInputStream", v.get("stream"));
    assertEquals(log, "[in:unbuffer, in:readbytebuffer]", v.get("capabilities"));
    assertThat(v.get("located")).as(log).startsWith("ShoalLocatedFileStatus:");
    assertEach(
        v,
        "false",
        "status_etag_source",
        "located_etag_source",
        "stream_pread_bytebuffer",
        "stream_iostatistics_source");
    assertThat(v).as(log).doesNotContainKey("open_file");
  }

  /** Hadoop 3.3.1 (Spark 3.2): IOStatistics, ByteBufferPositionedReadable, openFile; no ETags. */
  private static void check331(Map<String, String> v) {
    String log = v.get("log");
    checkCommon(v);
    checkHadoop33(v);
    // EtagSource is 3.3.2's
    assertThat(set(v.get("hadoop33_unloadable")))
        .as(log)
        .containsExactly("ShoalFileStatus33", "ShoalLocatedFileStatus33");
    checkStatuses(v, "", false);
  }

  /** Hadoop 3.3.4 (Spark 3.3 to 3.5): 3.3.1's and EtagSource; no vectored reads. */
  private static void check334(Map<String, String> v) {
    String log = v.get("log");
    checkCommon(v);
    checkHadoop33(v);
    assertThat(set(v.get("hadoop33_unloadable"))).as(log).isEmpty();
    checkStatuses(v, "33", true);
  }

  /**
   * The file statuses a listing gives: {@code ShoalFileStatus<suffix>} and {@code
   * ShoalLocatedFileStatus<suffix>}, which are {@code EtagSource}s or not.
   */
  private static void checkStatuses(Map<String, String> v, String suffix, boolean etagSource) {
    String log = v.get("log");
    assertEquals(log, "ShoalFileStatus" + suffix, v.get("status"));
    assertThat(v.get("located")).as(log).startsWith("ShoalLocatedFileStatus" + suffix + ":");
    assertEquals(log, String.valueOf(etagSource), v.get("status_etag_source"));
    assertEquals(log, String.valueOf(etagSource), v.get("located_etag_source"));
  }

  /** Each of {@code keys} is {@code value} in what the child JVM printed. */
  private static void assertEach(Map<String, String> v, String value, String... keys) {
    for (String k : keys) {
      assertEquals(v.get("log") + "\n" + k, value, v.get(k));
    }
  }

  private static void checkHadoop33(Map<String, String> v) {
    String log = v.get("log");
    assertEquals(log, "ShoalFileSystem33", v.get("shoal_class"));
    assertEquals(log, "AlluxioFileSystem33", v.get("alluxio_class"));
    assertEquals(log, "AlluxioFileSystem33/alluxio", v.get("alluxio_fs"));
    assertEquals(log, "ShoalInputStream33", v.get("stream"));
    // ShoalInputStream335 loads here too (a method's types are resolved when it is called), but
    // HadoopFeatures does not use it: 3.3.1 to 3.3.4 have no FileRange.
    assertEquals(log, "ShoalInputStream33", v.get("stream"));
    assertEquals(
        log,
        "[in:unbuffer, in:readbytebuffer, in:preadbytebuffer, iostatistics]",
        v.get("capabilities"));
    assertEach(
        v,
        "true",
        "stream_pread_bytebuffer",
        "stream_iostatistics_source",
        "open_file",
        "stream_iostatistics",
        "fsdata_pread_bytebuffer",
        "fs_iostatistics");
    // withFileStatus: no status request to the store (the status of a local file is one).
    assertEquals(log, "0", v.get("open_file_metadata_requests"));
  }

  private static Map<String, String> javaHomes() {
    Map<String, String> homes = new TreeMap<>();
    String spec = System.getProperty(JAVA_HOMES, "");
    for (String kv : spec.split(",")) {
      if (kv.contains("=")) {
        String[] parts = kv.split("=", 2);
        File java = new File(parts[1], "bin/java");
        assertTrue(JAVA_HOMES + ": no runtime at " + java, java.canExecute());
        homes.put(parts[0], parts[1]);
      }
    }
    return homes;
  }

  @Test
  public void theBuildPassesTheReleases() {
    assertEquals(
        new TreeSet<>(Arrays.asList("3.2.0", "3.3.1", "3.3.4")),
        new TreeSet<>(Arrays.asList(System.getProperty(VERSIONS, "").split(","))));
  }

  @Test
  public void hadoop320() throws Exception {
    check320(runChild("3.2.0", System.getProperty("java.home")));
  }

  @Test
  public void hadoop331() throws Exception {
    check331(runChild("3.3.1", System.getProperty("java.home")));
  }

  @Test
  public void hadoop334() throws Exception {
    check334(runChild("3.3.4", System.getProperty("java.home")));
  }

  /** Spark 3.1's Hadoop on Java 11 (Spark 3.1 runs on Java 8 and 11 only). */
  @Test
  public void hadoop320OnJava11() throws Exception {
    check320(runChildOnJava("3.2.0", "11"));
  }

  @Test
  public void hadoop334OnJava21() throws Exception {
    check334(runChildOnJava("3.3.4", "21"));
  }

  /** {@link #runChild} on the Java runtime of that version the build passes; skipped without. */
  private Map<String, String> runChildOnJava(String hadoop, String java) throws Exception {
    String home = javaHomes().get(java);
    org.junit.Assume.assumeTrue("no Java " + java + " runtime in " + JAVA_HOMES, home != null);
    Map<String, String> v = runChild(hadoop, home);
    assertEquals(v.get("log"), java, v.get("java"));
    return v;
  }
}
