package io.shoal.hadoop;

import org.apache.hadoop.conf.Configuration;

/**
 * Maps {@code fs.shoal.impl} and {@code fs.alluxio.impl} to Shoal's FileSystem classes in every
 * Hadoop {@link Configuration} of this JVM, existing ones included.
 *
 * <p>Hadoop discovers FileSystems through {@code META-INF/services} once per JVM, from the class
 * loader it first sees; a jar added later (Spark's {@code --jars}) is not found that way. Adding
 * {@value #DEFAULT_RESOURCE} (in this jar) to Hadoop's default resources makes every Configuration
 * read the mapping; values set explicitly still win. Calling it again does nothing.
 */
public final class SchemeRegistration {
  /** The resource, in this jar, that maps the schemes to Shoal's FileSystem classes. */
  public static final String DEFAULT_RESOURCE = "shoal-default.xml";

  private SchemeRegistration() {}

  /** Adds the mapping to Hadoop's default resources (idempotent). */
  public static void install() {
    Configuration.addDefaultResource(DEFAULT_RESOURCE);
  }
}
