package io.shoal.jni;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the native library ({@code shoal_jni}) once per JVM, in two steps:
 *
 * <ol>
 *   <li>{@code System.loadLibrary("shoal_jni")}, so a library on {@code java.library.path}
 *       overrides the bundled one;
 *   <li>otherwise the classpath resource {@code /native/<os>-<arch>/libshoal_jni.so} (the jar
 *       carries it) is copied to a fresh directory that only this JVM uses, loaded with {@code
 *       System.load}, and the copy deleted again (the mapping outlives the file on Unix).
 * </ol>
 *
 * <p>The system property {@code shoal.native.library} names a library file to load instead of both
 * steps.
 *
 * <p>A load failure is kept: {@link #load()} throws it, as an {@link IOException} saying what was
 * tried, on every call, and the filesystem calls it on first use. Nothing is thrown while classes
 * load.
 */
public final class NativeLibrary {
  /** The name given to {@link System#loadLibrary}. */
  public static final String NAME = "shoal_jni";

  /** A library file to load instead of searching; for development. */
  public static final String PATH_PROPERTY = "shoal.native.library";

  private static final Object LOCK = new Object();
  private static volatile boolean loaded;
  private static Throwable failure;
  private static String loadedFrom;

  private NativeLibrary() {}

  /** Loads the library unless already loaded; throws the kept failure if loading failed. */
  public static void load() throws IOException {
    if (loaded) {
      return;
    }
    synchronized (LOCK) {
      if (loaded) {
        return;
      }
      if (failure == null) {
        try {
          loadedFrom = doLoad();
          loaded = true;
          return;
        } catch (Throwable t) {
          failure = t;
        }
      }
      throw new IOException(
          "Shoal's native library could not be loaded: " + failure.getMessage(), failure);
    }
  }

  /** Where the library was loaded from (a file, or "java.library.path"), null before loading. */
  public static String loadedFrom() {
    synchronized (LOCK) {
      return loadedFrom;
    }
  }

  /** The {@code <os>-<arch>} directory name the jar keeps the library under. */
  public static String platform() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    String o;
    if (os.startsWith("linux")) {
      o = "linux";
    } else if (os.startsWith("mac") || os.startsWith("darwin")) {
      o = "mac";
    } else if (os.startsWith("windows")) {
      o = "windows";
    } else {
      o = os.replaceAll("[^a-z0-9]", "");
    }
    String a;
    if (arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x64")) {
      a = "x86_64";
    } else if (arch.equals("aarch64") || arch.equals("arm64")) {
      a = "aarch64";
    } else {
      a = arch.replaceAll("[^a-z0-9_]", "");
    }
    return o + "-" + a;
  }

  /** The classpath resource holding the library for this platform. */
  public static String resourceName() {
    return "/native/" + platform() + "/" + System.mapLibraryName(NAME);
  }

  private static String doLoad() throws IOException {
    String explicit = System.getProperty(PATH_PROPERTY);
    if (explicit != null && !explicit.isEmpty()) {
      try {
        System.load(explicit);
      } catch (UnsatisfiedLinkError e) {
        throw new IOException(
            "cannot load " + explicit + " (named by -D" + PATH_PROPERTY + "): " + e.getMessage(),
            e);
      }
      return explicit;
    }

    UnsatisfiedLinkError fromLibraryPath;
    try {
      System.loadLibrary(NAME);
      return "java.library.path";
    } catch (UnsatisfiedLinkError e) {
      fromLibraryPath = e;
    }

    String resource = resourceName();
    InputStream in = NativeLibrary.class.getResourceAsStream(resource);
    if (in == null) {
      throw new IOException(
          "no "
              + System.mapLibraryName(NAME)
              + " on java.library.path ("
              + fromLibraryPath.getMessage()
              + ") and none bundled for platform "
              + platform()
              + " (classpath resource "
              + resource
              + " is missing; is the Shoal jar built for this platform?)");
    }
    // A directory of our own: concurrent JVMs never share or overwrite each other's copy, and
    // createTempDirectory makes it private to this user (rwx------ on POSIX systems).
    Path dir = null;
    Path file = null;
    try {
      try {
        dir = Files.createTempDirectory("shoal-native-");
        file = dir.resolve(System.mapLibraryName(NAME));
        Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
      } finally {
        in.close();
      }
      try {
        System.load(file.toAbsolutePath().toString());
      } catch (UnsatisfiedLinkError e) {
        throw new IOException(
            "cannot load the bundled library "
                + resource
                + " for "
                + platform()
                + ": "
                + e.getMessage(),
            e);
      }
      return file.toString() + " (extracted from " + resource + ")";
    } finally {
      cleanUp(file, dir);
    }
  }

  /** Deletes the extracted copy; where the OS keeps it open (Windows), deletes it at exit. */
  private static void cleanUp(Path file, Path dir) {
    try {
      if (file != null) {
        Files.deleteIfExists(file);
      }
      if (dir != null) {
        Files.deleteIfExists(dir);
      }
    } catch (IOException e) {
      // deleteOnExit runs in reverse order of registration: the file first, then its directory.
      if (dir != null) {
        dir.toFile().deleteOnExit();
      }
      if (file != null) {
        file.toFile().deleteOnExit();
      }
    }
  }
}
