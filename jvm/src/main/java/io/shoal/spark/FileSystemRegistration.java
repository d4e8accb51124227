package io.shoal.spark;

import io.shoal.hadoop.SchemeRegistration;
import org.apache.spark.sql.sources.DataSourceRegister;

/**
 * Makes {@code shoal://} and {@code alluxio://} resolvable when the jar arrives through {@code
 * spark-submit --jars}.
 *
 * <p>Hadoop reads its {@code META-INF/services} FileSystem registrations once per JVM, and
 * spark-submit does that before it adds {@code --jars} to its class loader, so Shoal's registration
 * is not seen there. Spark SQL, though, loads every {@link DataSourceRegister} through the class
 * loader that has the jars whenever a DataFrame source is looked up (any {@code spark.read}). This
 * class is listed among them only to be loaded then, to run {@link SchemeRegistration#install()}.
 * {@link SessionRegistration} does the same when a session is created (Spark 3.2 and later), and
 * {@link ShoalPlugin} at start-up. It is not a data source: no format is named after it.
 */
public final class FileSystemRegistration implements DataSourceRegister {
  static {
    SchemeRegistration.install();
  }

  @Override
  public String shortName() {
    return "shoal-filesystem-registration";
  }
}
