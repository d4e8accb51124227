import java.io.File;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.mapreduce.InputSplit;
import org.apache.hadoop.mapreduce.JobID;
import org.apache.hadoop.mapreduce.lib.input.FileInputFormat;
import org.apache.hadoop.mapreduce.task.JobContextImpl;

/**
 * What the driver of a Spark load holds for its tasks: {@code io.shoal.spark.LoadInputFormat}'s
 * splits of the files of a local directory (a {@code file://} mount placed over four hosts), from
 * whichever Shoal jar is on the class path. Prints the files, the splits, the seconds getSplits
 * took, and the heap the splits keep (used heap after GC, before and after, divided by files).
 *
 * <p>run.sh compiles and runs it; {@code java PlanMemory DIR}.
 */
public final class PlanMemory {
  public static void main(String[] args) throws Exception {
    File dir = new File(args[0]);
    Configuration conf = new Configuration();
    conf.set("shoal.mount.data.path", "/data");
    conf.set("shoal.mount.data.uri", "file://" + dir.getAbsolutePath());
    conf.set("shoal.cluster.hosts", "h1,h2,h3,h4");
    conf.set(FileInputFormat.INPUT_DIR, "shoal:///data");
    conf.set("fs.shoal.impl", "io.shoal.hadoop.ShoalFileSystem");
    MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
    // Warm up: the native library, the filesystem, the JIT, on a small subdirectory.
    Configuration warm = new Configuration(conf);
    warm.set(FileInputFormat.INPUT_DIR, "shoal:///data/d0");
    splits(warm);
    long before = used(mem);
    long t0 = System.nanoTime();
    List<InputSplit> splits = splits(conf);
    double secs = (System.nanoTime() - t0) / 1e9;
    long after = used(mem);
    long files = 0;
    for (InputSplit s : splits) {
      files += s.getClass().getSimpleName().equals("FileSplit") ? 1 : count(s);
    }
    System.out.printf(
        "{\"files\": %d, \"splits\": %d, \"seconds\": %.3f, \"retained_bytes\": %d,"
            + " \"retained_bytes_per_file\": %.1f, \"micros_per_file\": %.2f}%n",
        files, splits.size(), secs, after - before, (double) (after - before) / files,
        secs * 1e6 / files);
    if (splits.isEmpty()) {
      throw new IllegalStateException("no splits");
    }
  }

  private static List<InputSplit> splits(Configuration conf) throws Exception {
    Class<?> c = Class.forName("io.shoal.spark.LoadInputFormat");
    Object f = c.getDeclaredConstructor().newInstance();
    @SuppressWarnings("unchecked")
    List<InputSplit> out =
        (List<InputSplit>)
            c.getMethod("getSplits", org.apache.hadoop.mapreduce.JobContext.class)
                .invoke(f, new JobContextImpl(conf, new JobID()));
    return out;
  }

  private static long count(InputSplit s) throws Exception {
    java.lang.reflect.Method m = s.getClass().getMethod("count");
    m.setAccessible(true);
    return ((Number) m.invoke(s)).longValue();
  }

  private static long used(MemoryMXBean mem) throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(100);
    }
    return mem.getHeapMemoryUsage().getUsed();
  }
}
