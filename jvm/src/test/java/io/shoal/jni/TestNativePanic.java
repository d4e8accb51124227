package io.shoal.jni;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.IOException;
import org.junit.Test;

/** A panic in native code becomes an exception; it never aborts the JVM. */
public class TestNativePanic {
  @Test
  public void aPanicArrivesAsAnIOExceptionWithItsBacktrace() throws Exception {
    NativeLibrary.load();
    for (int i = 0; i < 3; i++) {
      try {
        NativeMethods.panicForTest("boom " + i);
        fail("no exception");
      } catch (IOException e) {
        assertTrue(
            e.getMessage(), e.getMessage().startsWith("Shoal native code panicked: boom " + i));
        assertTrue(e.getMessage(), e.getMessage().contains("native backtrace"));
      }
    }
    // The library still works after the panics.
    assertEquals(NativeMethods.statsNames().length, NativeMethods.processStats().length);
  }
}
