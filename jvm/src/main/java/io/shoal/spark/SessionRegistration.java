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
 * <p>Spark loads every {@link SparkSessionExtensionsProvider} listed in {@code META-INF/services}
 * through the class loader that has the {@code --jars} when a session is created: {@code
 * SparkSession.builder().getOrCreate()} in Scala and Java from Spark 3.2, and PySpark's sessions
 * from Spark 4.0 (PySpark 3.x makes its session through a constructor that skips them). This
 * provider adds no extension to the session: it runs {@link SchemeRegistration#install()}. Where it
 * is not loaded (Spark 3.1, PySpark 3.x, applications that never create a session), {@link
 * FileSystemRegistration} (the first DataFrame read) or {@link ShoalPlugin} registers the schemes.
 */
public final class SessionRegistration extends AbstractFunction1<SparkSessionExtensions, BoxedUnit>
    implements SparkSessionExtensionsProvider {

  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    SchemeRegistration.install();
    return BoxedUnit.UNIT;
  }
}
