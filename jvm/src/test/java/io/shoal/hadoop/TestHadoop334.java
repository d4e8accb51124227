package io.shoal.hadoop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.util.VersionInfo;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The jar is compiled against Hadoop 3.3.6 (for {@code readVectored}) but must run on Spark 3.5's
 * Hadoop 3.3.4, which has no {@code FileRange}. A child JVM with Hadoop 3.3.4's client jars (the
 * build passes their class path in {@value #CLASSPATH_PROPERTY}) and Shoal's classes opens and
 * reads a file of a cached local mount through {@link ShoalFileSystem}, which loads, links and
 * verifies {@link ShoalInputStream}.
 */
public class TestHadoop334 {
  static final String CLASSPATH_PROPERTY = "shoal.test.hadoop.oldest.classpath";

  @Rule public TemporaryFolder tmp = new TemporaryFolder();

  /** What the child JVM runs: only Hadoop API calls that exist in 3.3.4. */
  public static final class Child {
    public static void main(String[] args) throws Exception {
      File dir = new File(args[0]);
      Configuration conf = new Configuration();
      TestSupport.mountLocal(conf, "m", "/m", new File(dir, "data"));
      conf.set("shoal.mount.m.cache", "true");
      conf.set("shoal.cache.dirs", new File(dir, "cache").getAbsolutePath() + ":64m");
      byte[] expected = Files.readAllBytes(new File(dir, "data/f.bin").toPath());
      try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
        for (int round = 0; round < 2; round++) {
          try (FSDataInputStream in = fs.open(new Path("/m/f.bin"))) {
            byte[] got = TestSupport.readAll(in);
            if (!Arrays.equals(expected, got)) {
              throw new AssertionError("read different bytes");
            }
            if (!(in.getWrappedStream() instanceof ShoalInputStream)) {
              throw new AssertionError("not a ShoalInputStream: " + in.getWrappedStream());
            }
            if (!in.hasCapability("in:readvectored")) {
              throw new AssertionError("no vectored read capability");
            }
          }
        }
        System.out.println("cache_hits=" + fs.getStorageStatistics().getLong("cache_hits"));
      }
      System.out.println("hadoop=" + VersionInfo.getVersion());
    }
  }

  @Test
  public void shoalReadsOnHadoop334() throws IOException, InterruptedException {
    String hadoop = System.getProperty(CLASSPATH_PROPERTY);
    assertThat(hadoop).as(CLASSPATH_PROPERTY + " (set by the build)").isNotEmpty();
    // Shoal's classes and resources, the test classes and any other jar, but no Hadoop jar but
    // 3.3.4's.
    List<String> cp = new ArrayList<>(Arrays.asList(hadoop.split(File.pathSeparator)));
    for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (!new File(e).getName().startsWith("hadoop-")) {
        cp.add(e);
      }
    }
    File dir = tmp.getRoot();
    TestSupport.write(new File(dir, "data/f.bin"), TestSupport.randomBytes(3 << 20, 334));
    File out = new File(dir, "child.log");
    ProcessBuilder pb =
        new ProcessBuilder(
            new File(System.getProperty("java.home"), "bin/java").getPath(),
            "-Xmx256m",
            "-cp",
            String.join(File.pathSeparator, cp),
            Child.class.getName(),
            dir.getAbsolutePath());
    pb.redirectErrorStream(true);
    pb.redirectOutput(out);
    Process p = pb.start();
    assertTrue("child JVM finished", p.waitFor(120, TimeUnit.SECONDS));
    String log = new String(Files.readAllBytes(out.toPath()), StandardCharsets.UTF_8);
    assertEquals(log, 0, p.exitValue());
    assertThat(log).contains("hadoop=3.3.4");
    // The second read came from the cache.
    assertThat(log).containsPattern("cache_hits=[1-9]");
    // This JVM runs the newer Hadoop the jar is compiled against.
    assertThat(VersionInfo.getVersion()).isNotEqualTo("3.3.4");
  }
}
