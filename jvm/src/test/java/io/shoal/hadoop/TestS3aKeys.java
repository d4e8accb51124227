package io.shoal.hadoop;

import static io.shoal.hadoop.TestSupport.conf;
import static io.shoal.hadoop.TestSupport.randomBytes;
import static io.shoal.hadoop.TestSupport.readAll;
import static io.shoal.hadoop.TestSupport.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.io.File;
import java.io.IOException;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.util.Iterator;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StorageStatistics;
import org.apache.hadoop.security.alias.CredentialProvider;
import org.apache.hadoop.security.alias.CredentialProviderFactory;
import org.apache.log4j.Level;
import org.apache.log4j.Logger;
import org.apache.log4j.PatternLayout;
import org.apache.log4j.WriterAppender;
import org.junit.ClassRule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * S3 mounts configured only through Hadoop S3A's keys ({@code fs.s3a.*}), against a real S3 server
 * ({@link S3Server}); and S3A secrets never shown in exceptions, {@code toString()} or statistics.
 */
public class TestS3aKeys {
  private static final String BUCKET = "s3a-keys";

  @ClassRule public static final S3Server S3 = new S3Server();
  @ClassRule public static final TemporaryFolder TMP = new TemporaryFolder();

  private static byte[] read(FileSystem fs, Path p) throws IOException {
    try (FSDataInputStream in = fs.open(p)) {
      return readAll(in);
    }
  }

  @Test
  public void aMountConfiguredOnlyByS3aKeysReadsAndWrites() throws IOException {
    byte[] data = randomBytes(300_000, 3);
    write(new File(S3.bucket(BUCKET), "pre/in/data.bin"), data);
    Configuration conf = S3.mountS3a(conf(), "s3", "/s3", BUCKET + "/pre");
    for (Map.Entry<String, String> e : conf) {
      assertThat(e.getKey()).doesNotContain(".option.");
    }
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
      assertArrayEquals(data, read(fs, new Path("/s3/in/data.bin")));
      byte[] small = "written through s3a keys".getBytes(StandardCharsets.UTF_8);
      try (FSDataOutputStream out = fs.create(new Path("/s3/out/w.txt"), true)) {
        out.write(small);
      }
      assertArrayEquals(small, read(fs, new Path("/s3/out/w.txt")));
      assertThat(new File(S3.bucket(BUCKET), "pre/out/w.txt")).hasBinaryContent(small);
    }
  }

  @Test
  public void perBucketKeysAndPerMountOptionsWin() throws IOException {
    write(new File(S3.bucket(BUCKET), "pb/f.txt"), new byte[] {7});
    Configuration conf = S3.mountS3a(conf(), "s3", "/s3", BUCKET + "/pb");
    conf.set("fs.s3a.secret.key", "base-secret-is-wrong");
    conf.set("fs.s3a.bucket." + BUCKET + ".secret.key", S3Server.SECRET_KEY);
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
      assertArrayEquals(new byte[] {7}, read(fs, new Path("/s3/f.txt")));
    }
    conf.set("shoal.mount.s3.option.aws_access_key_id", S3Server.ACCESS_KEY);
    conf.set("shoal.mount.s3.option.aws_secret_access_key", "mount-secret-is-wrong");
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
      IOException e =
          assertThrows(AccessDeniedException.class, () -> fs.getFileStatus(new Path("/s3/f.txt")));
      assertThat(e.toString()).contains("/s3/f.txt").doesNotContain("mount-secret-is-wrong");
      // Refused listings, one level and recursive, are access errors as well.
      e = assertThrows(AccessDeniedException.class, () -> fs.listStatus(new Path("/s3/d")));
      assertThat(e.toString()).contains("/s3/d").doesNotContain("mount-secret-is-wrong");
      e = assertThrows(AccessDeniedException.class, () -> fs.listFiles(new Path("/s3/d"), true));
      assertThat(e.toString()).contains("/s3/d").doesNotContain("mount-secret-is-wrong");
    }
  }

  @Test
  public void secretsMayComeFromACredentialProvider() throws Exception {
    write(new File(S3.bucket(BUCKET), "cp/f.txt"), new byte[] {9});
    Configuration conf = S3.mountS3a(conf(), "s3", "/s3", BUCKET + "/cp");
    conf.unset("fs.s3a.secret.key");
    File store = new File(TMP.getRoot(), "s3a.jceks");
    conf.set(
        CredentialProviderFactory.CREDENTIAL_PROVIDER_PATH,
        "jceks://file" + store.getAbsolutePath());
    CredentialProvider provider = CredentialProviderFactory.getProviders(conf).get(0);
    provider.createCredentialEntry("fs.s3a.secret.key", S3Server.SECRET_KEY.toCharArray());
    provider.flush();
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
      assertArrayEquals(new byte[] {9}, read(fs, new Path("/s3/f.txt")));
    }
    // A per-bucket secret that only the provider holds overrides a wrong base one.
    provider.deleteCredentialEntry("fs.s3a.secret.key");
    provider.createCredentialEntry(
        "fs.s3a.bucket." + BUCKET + ".secret.key", S3Server.SECRET_KEY.toCharArray());
    provider.flush();
    conf.set("fs.s3a.secret.key", "base-secret-is-wrong");
    assertThat(conf.get("fs.s3a.bucket." + BUCKET + ".secret.key")).isNull();
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
      assertArrayEquals(new byte[] {9}, read(fs, new Path("/s3/f.txt")));
    }
  }

  /** Nothing listens there; every secret must stay out of what the failure shows. */
  @Test
  public void aBadEndpointFailsWithoutShowingSecrets() throws IOException {
    String secret = "S3CRET-value-never-shown";
    String token = "T0KEN-value-never-shown";
    Configuration conf = S3.mountS3a(conf(), "s3", "/s3", BUCKET + "/bad");
    conf.set("fs.s3a.endpoint", "127.0.0.1:1");
    conf.set("fs.s3a.secret.key", secret);
    conf.set("fs.s3a.session.token", token);
    conf.set("shoal.store.max.retries", "0");
    // Every log line of the JVM side, at every level, while the filesystem lives.
    Logger root = Logger.getRootLogger();
    StringWriter logs = new StringWriter();
    WriterAppender appender = new WriterAppender(new PatternLayout("%p %c %m%n"), logs);
    Level level = root.getLevel();
    root.setLevel(Level.ALL);
    root.addAppender(appender);
    StringBuilder shown = new StringBuilder();
    try (FileSystem fs = FileSystem.newInstance(URI.create("shoal:///"), conf)) {
      IOException e = assertThrows(IOException.class, () -> fs.getFileStatus(new Path("/s3/x")));
      assertThat(e.getMessage()).contains("/s3/x");
      for (Throwable t = e; t != null; t = t.getCause()) {
        shown.append(t).append('\n');
        for (StackTraceElement s : t.getStackTrace()) {
          shown.append(s).append('\n');
        }
      }
      shown.append(fs).append('\n');
      StorageStatistics stats = fs.getStorageStatistics();
      for (Iterator<StorageStatistics.LongStatistic> it = stats.getLongStatistics();
          it.hasNext(); ) {
        StorageStatistics.LongStatistic s = it.next();
        shown.append(s.getName()).append('=').append(s.getValue()).append('\n');
      }
      shown.append(((ShoalFileSystem33) fs).getIOStatistics()).append('\n');
    } finally {
      root.removeAppender(appender);
      root.setLevel(level);
    }
    // The close summary at least was logged.
    assertThat(logs.toString()).contains("closed");
    shown.append(logs);
    assertThat(shown.toString()).doesNotContain(secret).doesNotContain(token);
  }

  @Test
  public void badS3aValuesNameTheKey() {
    Configuration conf = S3.mountS3a(conf(), "s3", "/s3", BUCKET + "/x");
    conf.set("fs.s3a.path.style.access", "sometimes");
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> FileSystem.newInstance(URI.create("shoal:///"), conf));
    assertThat(e.getMessage()).contains("fs.s3a.path.style.access").contains("true or false");
    assertEquals(IllegalArgumentException.class, e.getClass());
  }
}
