package io.shoal.hadoop;

import io.shoal.jni.NativeReader;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import org.apache.hadoop.fs.BlockLocation;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the running Hadoop offers beyond the 3.2.0 API the jar is compiled against, found once per
 * class loader, and the one place that makes the objects using it.
 *
 * <p>The classes under {@code jvm/src/main} name only Hadoop 3.2.0 types, so they load on every
 * supported Hadoop (the build compiles them against 3.2.0). The classes under {@code
 * jvm/src/hadoop33} (compiled against 3.3) implement newer interfaces, and are loaded only here,
 * through method handles, when the interfaces they name exist:
 *
 * <table>
 *   <caption>Classes by Hadoop release</caption>
 *   <tr><th>class</th><th>adds</th><th>Hadoop</th></tr>
 *   <tr><td>{@code ShoalFileSystem33}, {@code AlluxioFileSystem33}</td>
 *       <td>{@code IOStatisticsSource}, {@code openFile()} options and {@code withFileStatus}</td>
 *       <td>3.3.1</td></tr>
 *   <tr><td>{@code ShoalInputStream33}</td>
 *       <td>{@code IOStatisticsSource}, {@code ByteBufferPositionedReadable}</td><td>3.3.1</td></tr>
 *   <tr><td>{@code ShoalInputStream335}</td><td>{@code readVectored}</td><td>3.3.5</td></tr>
 *   <tr><td>{@code ShoalFileStatus33}, {@code ShoalLocatedFileStatus33}</td>
 *       <td>{@code EtagSource}</td><td>3.3.2</td></tr>
 * </table>
 *
 * Hadoop's {@code META-INF/services} names only {@link ShoalFileSystem} and {@link
 * AlluxioFileSystem}, which load everywhere; on Hadoop 3.3.1 and later {@link SchemeRegistration}
 * maps the schemes to the {@code 33} classes ({@link #schemeResource()}). {@code hasPathCapability}
 * needs no class of its own: its signature names no newer type, so {@link ShoalFileSystem} has it
 * on every Hadoop (Hadoop calls it from 3.2.2 and 3.3.0 on).
 */
final class HadoopFeatures {
  private static final Logger LOG = LoggerFactory.getLogger(HadoopFeatures.class);

  /**
   * {@code IOStatisticsSource} (3.3.1), {@code ByteBufferPositionedReadable} and openFile (3.3.0).
   */
  static final boolean IO_STATISTICS =
      present("org.apache.hadoop.fs.statistics.IOStatisticsSource")
          && present("org.apache.hadoop.fs.ByteBufferPositionedReadable")
          && present("org.apache.hadoop.fs.impl.OpenFileParameters");

  /** {@code EtagSource} (3.3.2). */
  static final boolean ETAGS = present("org.apache.hadoop.fs.EtagSource");

  /** {@code PositionedReadable.readVectored} and {@code FileRange} (3.3.5). */
  static final boolean VECTORED_READS = IO_STATISTICS && present("org.apache.hadoop.fs.FileRange");

  private static final String PACKAGE = "io.shoal.hadoop.";

  private static final MethodHandle NEW_INPUT_STREAM =
      constructor(
          ShoalInputStream.class,
          new String[] {
            VECTORED_READS ? "ShoalInputStream335" : null,
            IO_STATISTICS ? "ShoalInputStream33" : null
          },
          NativeReader.class,
          int.class,
          FileSystem.Statistics.class,
          Path.class);

  private static final MethodHandle NEW_FILE_STATUS =
      constructor(
          ShoalFileStatus.class,
          new String[] {ETAGS ? "ShoalFileStatus33" : null},
          ShoalFileStatus.class);

  private static final MethodHandle NEW_LOCATED_STATUS =
      constructor(
          ShoalLocatedFileStatus.class,
          new String[] {ETAGS ? "ShoalLocatedFileStatus33" : null},
          ShoalFileStatus.class,
          BlockLocation[].class);

  /** Whether the schemes map to the {@code 33} FileSystem classes. */
  private static final boolean FILESYSTEMS_33 =
      IO_STATISTICS
          && loads(PACKAGE + "ShoalFileSystem33")
          && loads(PACKAGE + "AlluxioFileSystem33");

  static {
    LOG.debug("Shoal on Hadoop {}: {}", hadoopVersion(), describe());
  }

  private HadoopFeatures() {}

  private static String hadoopVersion() {
    try {
      return org.apache.hadoop.util.VersionInfo.getVersion();
    } catch (RuntimeException | LinkageError e) {
      return "(unknown)";
    }
  }

  private static boolean present(String hadoopClass) {
    try {
      Class.forName(hadoopClass, false, HadoopFeatures.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      return false;
    }
  }

  /**
   * Whether one of Shoal's classes loads here (with its superclasses and interfaces); a failure is
   * logged, never thrown. Not initialized: {@link ShoalFileSystem}'s initializer may be what runs
   * this class's.
   */
  private static boolean loads(String shoalClass) {
    try {
      Class.forName(shoalClass, false, HadoopFeatures.class.getClassLoader());
      return true;
    } catch (ClassNotFoundException | LinkageError e) {
      LOG.warn("Shoal: {} does not load on this Hadoop; using the Hadoop 3.2 API", shoalClass, e);
      return false;
    }
  }

  /**
   * The constructor of the first of {@code candidates} (simple names in this package; null entries
   * skipped) that loads, else of {@code base}, typed as returning {@code base}.
   */
  private static MethodHandle constructor(
      Class<?> base, String[] candidates, Class<?>... parameters) {
    MethodHandles.Lookup lookup = MethodHandles.lookup();
    MethodType made = MethodType.methodType(base, parameters);
    for (String name : candidates) {
      if (name == null) {
        continue;
      }
      try {
        Class<?> c = Class.forName(PACKAGE + name, false, HadoopFeatures.class.getClassLoader());
        return lookup
            .findConstructor(c, MethodType.methodType(void.class, parameters))
            .asType(made);
      } catch (ReflectiveOperationException | LinkageError e) {
        LOG.warn("Shoal: {} does not load on this Hadoop; using a simpler class", name, e);
      }
    }
    try {
      return lookup
          .findConstructor(base, MethodType.methodType(void.class, parameters))
          .asType(made);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private static RuntimeException rethrow(Throwable t) {
    if (t instanceof RuntimeException) {
      throw (RuntimeException) t;
    }
    if (t instanceof Error) {
      throw (Error) t;
    }
    return new IllegalStateException(t);
  }

  /** A stream over {@code reader} with every stream interface the running Hadoop has. */
  static ShoalInputStream inputStream(
      NativeReader reader, int bufferSize, FileSystem.Statistics statistics, Path path) {
    try {
      return (ShoalInputStream) NEW_INPUT_STREAM.invokeExact(reader, bufferSize, statistics, path);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * A file status, an {@code EtagSource} where Hadoop has that interface: {@code status} itself
   * where it has not, else a copy of it that is one.
   */
  static ShoalFileStatus fileStatus(ShoalFileStatus status) {
    if (!ETAGS) {
      return status;
    }
    try {
      return (ShoalFileStatus) NEW_FILE_STATUS.invokeExact(status);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /** A located file status, an {@code EtagSource} where Hadoop has that interface. */
  static ShoalLocatedFileStatus locatedStatus(ShoalFileStatus status, BlockLocation[] locations) {
    try {
      return (ShoalLocatedFileStatus) NEW_LOCATED_STATUS.invokeExact(status, locations);
    } catch (Throwable t) {
      throw rethrow(t);
    }
  }

  /**
   * The resource (in this jar) that maps {@code fs.shoal.impl} and {@code fs.alluxio.impl} to the
   * FileSystem classes for this Hadoop.
   */
  static String schemeResource() {
    return FILESYSTEMS_33 ? "shoal-default-hadoop33.xml" : "shoal-default.xml";
  }

  /** What this class found, for the log. */
  static String describe() {
    return "io_statistics="
        + IO_STATISTICS
        + ", etags="
        + ETAGS
        + ", vectored_reads="
        + VECTORED_READS
        + ", filesystems="
        + (FILESYSTEMS_33 ? "ShoalFileSystem33" : "ShoalFileSystem");
  }
}
