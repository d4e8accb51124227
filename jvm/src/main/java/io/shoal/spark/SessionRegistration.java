package io.shoal.spark;

import io.shoal.hadoop.SchemeRegistration;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.SparkSessionExtensionsProvider;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Makes {@code shoal://} and {@code alluxio://} resolvable from the moment a {@code SparkSession}
 * exists, when the jar arrives through {@code spark-submit --jars}, so that RDD reads ({@code
 * sc.binaryFiles}) and the plain Hadoop API ({@code Path.getFileSystem}) work before any DataFrame
 * read.
 *
 * <p>Spark 3.2 and later load every {@link SparkSessionExtensionsProvider} listed in {@code
 * META-INF/services} through the class loader that has the {@code --jars}, each time a session is
 * created ({@code SparkSession.builder().getOrCreate()}, PySpark's and spark-shell's session
 * included). This provider adds no extension to the session: it runs {@link
 * SchemeRegistration#install()}. Spark 3.1 has no such services entry point; there, and in
 * applications that never create a session, {@link FileSystemRegistration} (the first DataFrame
 * read) or {@link ShoalPlugin} registers the schemes.
 */
public final class SessionRegistration extends AbstractFunction1<SparkSessionExtensions, BoxedUnit>
    implements SparkSessionExtensionsProvider {

  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    SchemeRegistration.install();
    return BoxedUnit.UNIT;
  }
}
