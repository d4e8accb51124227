package io.shoal.hadoop;

import org.apache.hadoop.conf.Configuration;

/**
 * Maps {@code fs.shoal.impl} and {@code fs.alluxio.impl} to Shoal's FileSystem classes for the
 * running Hadoop in every Hadoop {@link Configuration} of this JVM, existing ones included.
 *
 * <p>Hadoop discovers FileSystems through {@code META-INF/services} once per JVM, from the class
 * loader it first sees; a jar added later (Spark's {@code --jars}) is not found that way. Adding
 * {@link #resource()} (in this jar) to Hadoop's default resources makes every Configuration that
 * can load this jar's resources read the mapping; values set explicitly still win. The services
 * entries name {@link ShoalFileSystem} and {@link AlluxioFileSystem}, which load on every supported
 * Hadoop; on Hadoop 3.3.1 and later the mapping names {@code ShoalFileSystem33} and {@code
 * AlluxioFileSystem33}, which add that Hadoop's interfaces (see {@code HadoopFeatures}). {@link
 * ShoalFileSystem} runs this when its class initializes, so a JVM that found the jar through its
 * services file gets the mapping too.
 *
 * <p>Who calls it when the jar comes with {@code --jars}: Spark SQL's data source lookup ({@code
 * io.shoal.spark.FileSystemRegistration}), the creation of a {@code SparkSession} ({@code
 * io.shoal.spark.SessionRegistration}: Scala's and Java's builder from Spark 3.2, PySpark's from
 * Spark 4.0) and the Spark plugin ({@code io.shoal.spark.ShoalPlugin}). Calling it again does
 * nothing.
 */
public final class SchemeRegistration {
  private static volatile boolean installed;

  private SchemeRegistration() {}

  /** Adds the mapping to Hadoop's default resources (idempotent). */
  public static void install() {
    if (installed) {
      return;
    }
    synchronized (SchemeRegistration.class) {
      if (!installed) {
        Configuration.addDefaultResource(resource());
        installed = true;
      }
    }
  }

  /** The resource, in this jar, that maps the schemes to the FileSystem classes for this Hadoop. */
  public static String resource() {
    return HadoopFeatures.schemeResource();
  }
}
