package io.shoal.hadoop;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;

/** Helpers shared by the JUnit tests. */
final class TestSupport {
  private TestSupport() {}

  /** A configuration without fs.*.impl keys: the schemes must come from META-INF/services. */
  static Configuration conf() {
    return new Configuration();
  }

  /** Adds a local-directory mount. */
  static Configuration mountLocal(Configuration conf, String name, String path, File dir) {
    conf.set("shoal.mount." + name + ".path", path);
    conf.set("shoal.mount." + name + ".uri", "file://" + dir.getAbsolutePath());
    return conf;
  }

  static byte[] randomBytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  static void write(File file, byte[] data) throws IOException {
    Files.createDirectories(file.getParentFile().toPath());
    Files.write(file.toPath(), data);
  }

  /** The names of {@code statuses}, a directory's with a trailing "/", sorted. */
  static Set<String> names(FileStatus[] statuses) {
    Set<String> out = new TreeSet<>();
    for (FileStatus s : statuses) {
      out.add(s.getPath().getName() + (s.isDirectory() ? "/" : ""));
    }
    return out;
  }

  static byte[] readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    int n;
    while ((n = in.read(buf)) > 0) {
      out.write(buf, 0, n);
    }
    return out.toByteArray();
  }
}
