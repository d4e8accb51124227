package io.shoal.jni;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Test;

/** The ownership rules of {@link NativeObject}, with a fake handle (no native code). */
public class TestNativeObject {
  /** Counts releases; fails a test when a handle is released twice or used after release. */
  static final class Fake extends NativeObject {
    final AtomicInteger releases = new AtomicInteger();
    volatile boolean freed;

    Fake() {
      super(42);
    }

    @Override
    protected void release(long handle) {
      assertEquals(42, handle);
      freed = true;
      releases.incrementAndGet();
    }

    void use() throws IOException {
      long h = pin();
      try {
        assertEquals(42, h);
        assertFalse("used after free", freed);
        Thread.yield();
        assertFalse("freed while in use", freed);
      } finally {
        unpin();
      }
    }
  }

  @Test
  public void closeIsIdempotent() {
    Fake f = new Fake();
    assertFalse(f.isClosed());
    f.close();
    f.close();
    assertTrue(f.isClosed());
    assertEquals(1, f.releases.get());
    assertThrows(IOException.class, f::use);
  }

  @Test
  public void closeWhilePinnedDefersTheRelease() throws IOException {
    Fake f = new Fake();
    long h = f.pin();
    assertEquals(42, h);
    f.close();
    assertTrue(f.isClosed());
    assertEquals("not released while pinned", 0, f.releases.get());
    f.unpin();
    assertEquals(1, f.releases.get());
    assertThrows(IOException.class, f::pin);
    assertEquals(1, f.releases.get());
  }

  @Test
  public void nullHandleIsRejected() {
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new NativeObject(0) {
              @Override
              protected void release(long handle) {}
            });
  }

  @Test
  public void concurrentUseAndCloseReleaseExactlyOnce() throws Exception {
    for (int round = 0; round < 200; round++) {
      Fake f = new Fake();
      CountDownLatch go = new CountDownLatch(1);
      List<Thread> threads = new ArrayList<>();
      List<Throwable> errors = new ArrayList<>();
      for (int t = 0; t < 4; t++) {
        Thread th =
            new Thread(
                () -> {
                  try {
                    go.await();
                    for (int i = 0; i < 100; i++) {
                      try {
                        f.use();
                      } catch (IOException closed) {
                        return;
                      }
                    }
                    f.close();
                  } catch (Throwable e) {
                    synchronized (errors) {
                      errors.add(e);
                    }
                  }
                });
        th.start();
        threads.add(th);
      }
      go.countDown();
      f.close();
      for (Thread th : threads) {
        th.join();
      }
      assertTrue(errors.toString(), errors.isEmpty());
      assertEquals(1, f.releases.get());
    }
  }
}
