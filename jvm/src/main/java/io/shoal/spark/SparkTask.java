package io.shoal.spark;

import java.util.function.BooleanSupplier;
import org.apache.spark.TaskContext;

/**
 * Whether the Spark task of the calling thread has been killed ({@code TaskContext.isInterrupted}:
 * its job cancelled with {@code cancelJobGroup} or {@code cancelAllJobs}, a speculative copy that
 * lost, the application stopping). Spark sets that flag whether or not it also interrupts the
 * task's thread, and only a task that looks at it stops; Shoal's cache jobs hand it to their native
 * batch ({@code NativeFs.files}), which asks it every 20 ms and stops fetching once it is set. The
 * same on Spark 3.1 to 4.x; outside Spark (JUnit, a thread that runs no task) it is never set.
 */
final class SparkTask {
  private SparkTask() {}

  private static final BooleanSupplier NEVER = () -> false;

  /** The kill flag of the task running on this thread, to be read from any thread. */
  static BooleanSupplier killedFlag() {
    try {
      TaskContext task = TaskContext.get();
      if (task != null) {
        return task::isInterrupted;
      }
    } catch (LinkageError notInSpark) {
      // JUnit: the input formats run without Spark on the class path.
    }
    return NEVER;
  }
}
