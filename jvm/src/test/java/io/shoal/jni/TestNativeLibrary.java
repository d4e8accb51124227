package io.shoal.jni;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.Assert.assertNotNull;

import java.io.IOException;
import org.junit.Test;

/** The library loads the way a user's JVM loads it: extracted from the classpath. */
public class TestNativeLibrary {
  @Test
  public void loadsFromTheClasspathResource() throws IOException {
    assertNotNull(
        "the build puts the library on the test classpath",
        NativeLibrary.class.getResource(NativeLibrary.resourceName()));
    NativeLibrary.load();
    NativeLibrary.load();
    assertThat(NativeLibrary.loadedFrom())
        .contains("extracted from " + NativeLibrary.resourceName());
  }

  @Test
  public void platformIsNormalized() {
    assertThat(NativeLibrary.platform()).matches("(linux|mac|windows|[a-z0-9]+)-[a-z0-9_]+");
    if (System.getProperty("os.name").startsWith("Linux")
        && System.getProperty("os.arch").equals("amd64")) {
      assertThat(NativeLibrary.resourceName()).isEqualTo("/native/linux-x86_64/libshoal_jni.so");
    }
  }
}
