package io.shoal.spark;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.sources.DataSourceRegister;

/**
 * Makes {@code shoal://} and {@code alluxio://} resolvable when the jar arrives through {@code
 * spark-submit --jars}.
 *
 * <p>Hadoop reads its {@code META-INF/services} FileSystem registrations once per JVM, and
 * spark-submit does that before it adds {@code --jars} to its class loader, so Shoal's registration
 * is not seen there. Spark SQL, though, loads every {@link DataSourceRegister} through the class
 * loader that has the jars whenever a DataFrame source is looked up (any {@code spark.read}). This
 * class is listed among them only to be loaded then: it adds {@code shoal-default.xml} (which maps
 * {@code fs.shoal.impl} and {@code fs.alluxio.impl} to Shoal's classes) to Hadoop's default
 * resources, which every {@link Configuration} reads, existing ones included. Values a user sets
 * explicitly still win. It is not a data source: no format is named after it.
 */
public final class FileSystemRegistration implements DataSourceRegister {
  /** The resource, in this jar, that maps the schemes to Shoal's FileSystem classes. */
  public static final String DEFAULT_RESOURCE = "shoal-default.xml";

  static {
    Configuration.addDefaultResource(DEFAULT_RESOURCE);
  }

  @Override
  public String shortName() {
    return "shoal-filesystem-registration";
  }
}
