import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StorageStatistics;
import org.apache.hadoop.util.VersionInfo;

/**
 * Warm reads through Shoal's node cache against the physical limit, through the Hadoop API, in one
 * run: a generated data set is served by s3s-fs on 127.0.0.1 and mounted into Shoal; every file is
 * read once to warm the cache; then three cases are timed, each for Shoal and for the same bytes
 * read from local files through Hadoop's LocalFileSystem:
 *
 * <ol>
 *   <li>seq_1m: sequential 1 MiB reads of the large files (MiB/s);
 *   <li>rand_4k: random 4 KiB positioned reads of the large files (reads/s);
 *   <li>open_read_100k: open and read whole 100 KB files (files/s).
 * </ol>
 *
 * Each case runs several repetitions, alternating Shoal and local; the medians and their ratio
 * (Shoal / local) are reported, for each page size asked for. See README.md; run.sh builds and runs
 * it.
 */
public final class CacheBench {
  private static final String BUCKET = "bench";
  private static final String ACCESS = "bench-access";
  private static final String SECRET = "bench-secret";

  // Parameters (system properties, see README.md).
  private final File work = new File(prop("bench.work", "/tmp/shoal-cache-bench"));
  private final String s3sBin = prop("bench.s3s", ".tools/s3s/bin/s3s-fs");
  private final List<String> pageSizes =
      Arrays.asList(prop("bench.page.sizes", "256k,1m,4m").split(","));
  private final int reps = Integer.parseInt(prop("bench.reps", "7"));
  private final int bigFiles = Integer.parseInt(prop("bench.big.files", "4"));
  private final int bigMiB = Integer.parseInt(prop("bench.big.mib", "32"));
  private final int smallFiles = Integer.parseInt(prop("bench.small.files", "500"));
  private final int smallLen = Integer.parseInt(prop("bench.small.bytes", "100000"));
  private final int randomReads = Integer.parseInt(prop("bench.random.reads", "8192"));
  /** Each timed sample repeats its pass until it has run this long. */
  private final long minSampleNanos =
      TimeUnit.MILLISECONDS.toNanos(Long.parseLong(prop("bench.min.sample.ms", "300")));

  /**
   * Memory tiers to run: {@code default} (Shoal's default 128 MiB memory tier, smaller than the
   * data set), {@code memory} (1 GiB: every page in memory), {@code disk} (no memory tier: every
   * hit reads a page file, as in a new process).
   */
  private final List<String> tiers = Arrays.asList(prop("bench.tiers", "default,disk").split(","));

  /** Cases to run (all by default): seq_1m, rand_4k, open_read_100k. */
  private static final List<String> ALL_CASES =
      Arrays.asList("seq_1m", "rand_4k", "open_read_100k");

  private final List<String> cases =
      Arrays.asList(prop("bench.cases", String.join(",", ALL_CASES)).split(","));

  private final String out = prop("bench.out", "");

  private File dataDir;
  private Process s3s;
  private int port;

  private static String prop(String key, String dflt) {
    String v = System.getProperty(key);
    return v == null || v.isEmpty() ? dflt : v;
  }

  public static void main(String[] args) throws Exception {
    new CacheBench().run();
  }

  // ---- data set and server ---------------------------------------------------------------------

  private void generate() throws IOException {
    dataDir = new File(work, "s3root/" + BUCKET + "/data");
    File marker =
        new File(
            work,
            "dataset-" + bigFiles + "x" + bigMiB + "m-" + smallFiles + "x" + smallLen + ".done");
    if (marker.isFile()) {
      return;
    }
    deleteTree(new File(work, "s3root"));
    Random rnd = new Random(42);
    byte[] big = new byte[bigMiB << 20];
    for (int i = 0; i < bigFiles; i++) {
      rnd.nextBytes(big);
      write(new File(dataDir, String.format("big/%02d.bin", i)), big);
    }
    byte[] small = new byte[smallLen];
    for (int i = 0; i < smallFiles; i++) {
      rnd.nextBytes(small);
      write(new File(dataDir, String.format("small/%05d.bin", i)), small);
    }
    Files.write(marker.toPath(), new byte[0]);
  }

  private static void write(File f, byte[] data) throws IOException {
    Files.createDirectories(f.getParentFile().toPath());
    Files.write(f.toPath(), data);
  }

  private static void deleteTree(File f) {
    File[] children = f.listFiles();
    if (children != null) {
      for (File c : children) {
        deleteTree(c);
      }
    }
    f.delete();
  }

  private void startS3() throws IOException, InterruptedException {
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    ProcessBuilder pb =
        new ProcessBuilder(
            s3sBin,
            "--host",
            "127.0.0.1",
            "--port",
            Integer.toString(port),
            "--access-key",
            ACCESS,
            "--secret-key",
            SECRET,
            new File(work, "s3root").getAbsolutePath());
    pb.redirectErrorStream(true);
    pb.redirectOutput(new File(work, "s3s-fs.log"));
    s3s = pb.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline) {
      if (!s3s.isAlive()) {
        throw new IOException("s3s-fs exited; see " + new File(work, "s3s-fs.log"));
      }
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress("127.0.0.1", port), 200);
        return;
      } catch (IOException notYet) {
        Thread.sleep(50);
      }
    }
    throw new IOException("s3s-fs did not start");
  }

  private FileSystem shoal(String tier, String pageSize) throws IOException {
    Configuration conf = new Configuration();
    String m = "shoal.mount.bench.";
    conf.set(m + "path", "/bench");
    conf.set(m + "uri", "s3://" + BUCKET + "/data");
    conf.set(m + "option.aws_endpoint", "http://127.0.0.1:" + port);
    conf.set(m + "option.aws_access_key_id", ACCESS);
    conf.set(m + "option.aws_secret_access_key", SECRET);
    conf.set(m + "option.aws_region", "us-east-1");
    conf.set(m + "option.aws_allow_http", "true");
    // A training data set: its metadata never changes while the job runs.
    conf.set(m + "immutable", "true");
    File cache = new File(work, "cache-" + tier + "-" + pageSize);
    deleteTree(cache);
    conf.set("shoal.cache.dirs", cache.getAbsolutePath() + ":8g");
    conf.set("shoal.cache.page.size", pageSize);
    switch (tier) {
      case "default":
        break;
      case "memory":
        conf.set("shoal.cache.memory.size", "1g");
        break;
      case "disk":
        conf.set("shoal.cache.memory.size", "0");
        break;
      default:
        throw new IllegalArgumentException("bench.tiers: default, memory or disk, not " + tier);
    }
    return FileSystem.newInstance(URI.create("shoal:///"), conf);
  }

  // ---- the cases
  // ---------------------------------------------------------------------------------

  /** One timed pass: returns units done (bytes, reads or files). */
  private interface Pass {
    long run(FileSystem fs, Path root) throws IOException;
  }

  private List<Path> bigPaths(Path root) {
    List<Path> out = new ArrayList<>();
    for (int i = 0; i < bigFiles; i++) {
      out.add(new Path(root, String.format("big/%02d.bin", i)));
    }
    return out;
  }

  private long sequential(FileSystem fs, Path root) throws IOException {
    byte[] buf = new byte[1 << 20];
    long total = 0;
    for (Path p : bigPaths(root)) {
      try (FSDataInputStream in = fs.open(p)) {
        int n;
        while ((n = in.read(buf, 0, buf.length)) > 0) {
          total += n;
        }
      }
    }
    return total;
  }

  private long[] offsets;

  private long random(FileSystem fs, Path root) throws IOException {
    List<Path> paths = bigPaths(root);
    FSDataInputStream[] ins = new FSDataInputStream[paths.size()];
    byte[] buf = new byte[4096];
    try {
      for (int i = 0; i < ins.length; i++) {
        ins[i] = fs.open(paths.get(i));
      }
      for (long o : offsets) {
        int file = (int) (o >>> 40);
        ins[file].readFully(o & ((1L << 40) - 1), buf, 0, buf.length);
      }
    } finally {
      for (FSDataInputStream in : ins) {
        if (in != null) {
          in.close();
        }
      }
    }
    return offsets.length;
  }

  private long smallFilesPass(FileSystem fs, Path root) throws IOException {
    byte[] buf = new byte[smallLen];
    for (int i = 0; i < smallFiles; i++) {
      try (FSDataInputStream in = fs.open(new Path(root, String.format("small/%05d.bin", i)))) {
        readFully(in, buf);
      }
    }
    return smallFiles;
  }

  private static void readFully(InputStream in, byte[] buf) throws IOException {
    int off = 0;
    while (off < buf.length) {
      int n = in.read(buf, off, buf.length - off);
      if (n < 0) {
        throw new IOException("short file");
      }
      off += n;
    }
  }

  private static double seconds(long nanos) {
    return nanos / 1e9;
  }

  private static double median(double[] v) {
    double[] s = v.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  private static Map<String, Long> counters(FileSystem fs) {
    Map<String, Long> m = new LinkedHashMap<>();
    Iterator<StorageStatistics.LongStatistic> it = fs.getStorageStatistics().getLongStatistics();
    while (it.hasNext()) {
      StorageStatistics.LongStatistic s = it.next();
      m.put(s.getName(), s.getValue());
    }
    return m;
  }

  private static Map<String, Long> minus(Map<String, Long> a, Map<String, Long> b) {
    Map<String, Long> m = new LinkedHashMap<>();
    for (Map.Entry<String, Long> e : a.entrySet()) {
      m.put(e.getKey(), e.getValue() - b.getOrDefault(e.getKey(), 0L));
    }
    return m;
  }

  private final StringBuilder json = new StringBuilder();
  private final List<String> table = new ArrayList<>();

  /** Times one case for both filesystems; appends its JSON and table row. */
  private void measure(
      String name, String unit, double scale, Pass pass, FileSystem shoal, FileSystem local)
      throws IOException {
    Path shoalRoot = new Path("/bench");
    Path localRoot = new Path(dataDir.toURI());
    double[] shoalRates = new double[reps];
    double[] localRates = new double[reps];
    // One untimed pass each, so that both paths are compiled by the JIT before timing.
    pass.run(shoal, shoalRoot);
    pass.run(local, localRoot);
    Map<String, Long> before = counters(shoal);
    for (int r = 0; r < reps; r++) {
      for (int k = 0; k < 2; k++) {
        boolean doShoal = (r + k) % 2 == 0;
        // A pass of 500 small files or 8192 random reads takes tens of milliseconds: repeat
        // it until the sample is long enough that timer and scheduler noise do not decide it.
        long units = 0;
        long t0 = System.nanoTime();
        long elapsed;
        do {
          units += doShoal ? pass.run(shoal, shoalRoot) : pass.run(local, localRoot);
          elapsed = System.nanoTime() - t0;
        } while (elapsed < minSampleNanos);
        double rate = units / scale / seconds(elapsed);
        if (doShoal) {
          shoalRates[r] = rate;
        } else {
          localRates[r] = rate;
        }
      }
    }
    Map<String, Long> used = minus(counters(shoal), before);
    double s = median(shoalRates);
    double l = median(localRates);
    table.add(
        String.format(
            Locale.ROOT,
            "%-16s %12.1f %12.1f %-8s %6.2f   store GETs %d, from memory %d MiB, from disk %d MiB",
            name,
            l,
            s,
            unit,
            s / l,
            used.get("store_get_requests"),
            used.get("bytes_from_memory") >> 20,
            used.get("bytes_from_disk") >> 20));
    json.append(String.format(Locale.ROOT, "      \"%s\": {\"unit\": \"%s\", ", name, unit));
    json.append(
        String.format(Locale.ROOT, "\"local_median\": %.2f, \"shoal_median\": %.2f, ", l, s));
    json.append(String.format(Locale.ROOT, "\"ratio\": %.3f, ", s / l));
    json.append("\"local\": ")
        .append(arr(localRates))
        .append(", \"shoal\": ")
        .append(arr(shoalRates));
    json.append(", \"shoal_counters\": {");
    int i = 0;
    for (Map.Entry<String, Long> e : used.entrySet()) {
      json.append(i++ == 0 ? "" : ", ")
          .append('"')
          .append(e.getKey())
          .append("\": ")
          .append(e.getValue());
    }
    json.append("}},\n");
  }

  private static String arr(double[] v) {
    StringBuilder b = new StringBuilder("[");
    for (int i = 0; i < v.length; i++) {
      b.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.2f", v[i]));
    }
    return b.append(']').toString();
  }

  private void run() throws Exception {
    for (String c : cases) {
      if (!ALL_CASES.contains(c)) {
        throw new IllegalArgumentException("bench.cases: " + ALL_CASES + ", not " + c);
      }
    }
    Files.createDirectories(work.toPath());
    generate();
    Random rnd = new Random(7);
    long bigLen = (long) bigMiB << 20;
    offsets = new long[randomReads];
    for (int i = 0; i < randomReads; i++) {
      long off = (long) (rnd.nextDouble() * (bigLen - 4096)) & ~4095L;
      offsets[i] = ((long) rnd.nextInt(bigFiles) << 40) | off;
    }
    startS3();
    String started = Instant.now().toString();
    json.append("{\n  \"benchmark\": \"cache\",\n  \"started\": \"")
        .append(started)
        .append("\",\n");
    json.append("  \"environment\": {")
        .append(
            String.format(
                Locale.ROOT, "\"cpus\": %d, ", Runtime.getRuntime().availableProcessors()))
        .append("\"java\": \"")
        .append(System.getProperty("java.version"))
        .append("\", ")
        .append("\"hadoop\": \"")
        .append(VersionInfo.getVersion())
        .append("\", ")
        .append("\"os\": \"")
        .append(System.getProperty("os.name"))
        .append(' ')
        .append(System.getProperty("os.arch"))
        .append("\", ")
        .append("\"loadavg_at_start\": \"")
        .append(loadavg())
        .append("\"},\n");
    // The run's settings, in the order both the JSON and the console line give them.
    Object[] settings = {
      bigFiles,
      bigMiB,
      smallFiles,
      smallLen,
      randomReads,
      reps,
      TimeUnit.NANOSECONDS.toMillis(minSampleNanos)
    };
    json.append(
        String.format(
            Locale.ROOT,
            "  \"dataset\": {\"big_files\": %d, \"big_mib\": %d, \"small_files\": %d,"
                + " \"small_bytes\": %d, \"random_reads\": %d},\n"
                + "  \"reps\": %d,\n"
                + "  \"min_sample_ms\": %d,\n"
                + "  \"runs\": {\n",
            settings));
    PrintStream o = System.out;
    o.printf(
        Locale.ROOT,
        "Shoal cache benchmark: %d x %d MiB, %d x %d B files, %d random reads, %d reps of at"
            + " least %d ms",
        settings);
    o.printf(
        Locale.ROOT,
        ", %d CPUs, Hadoop %s, Java %s, load %s%n",
        Runtime.getRuntime().availableProcessors(),
        VersionInfo.getVersion(),
        System.getProperty("java.version"),
        loadavg());
    try {
      // The physical limit: LocalFileSystem's raw filesystem (no checksum layer; the data set has
      // no .crc files, and ChecksumFileSystem's positioned reads seek and refill a 4 KiB buffer).
      FileSystem local = FileSystem.getLocal(new Configuration()).getRawFileSystem();
      List<String[]> runs = new ArrayList<>();
      for (String tier : tiers) {
        for (String ps : pageSizes) {
          runs.add(new String[] {tier.trim(), ps.trim()});
        }
      }
      for (int p = 0; p < runs.size(); p++) {
        String tier = runs.get(p)[0];
        String ps = runs.get(p)[1];
        try (FileSystem shoal = shoal(tier, ps)) {
          // Warm: every byte once through Shoal (and through the OS for the local files).
          sequential(shoal, new Path("/bench"));
          smallFilesPass(shoal, new Path("/bench"));
          random(shoal, new Path("/bench"));
          sequential(local, new Path(dataDir.toURI()));
          smallFilesPass(local, new Path(dataDir.toURI()));
          if (p == 0) {
            // Before the first measurement: both paths run often enough for the JIT's top tier.
            for (int i = 0; i < 3; i++) {
              sequential(shoal, new Path("/bench"));
              sequential(local, new Path(dataDir.toURI()));
              random(shoal, new Path("/bench"));
              random(local, new Path(dataDir.toURI()));
              smallFilesPass(shoal, new Path("/bench"));
              smallFilesPass(local, new Path(dataDir.toURI()));
            }
          }
          Map<String, Long> warm = counters(shoal);
          json.append("    \"").append(tier).append('/').append(ps).append("\": {\n");
          json.append("      \"warm_counters\": {\"bytes_from_store\": ")
              .append(warm.get("bytes_from_store"))
              .append(", \"store_get_requests\": ")
              .append(warm.get("store_get_requests"))
              .append("},\n");
          table.clear();
          if (cases.contains("seq_1m")) {
            measure("seq_1m", "MiB/s", 1 << 20, this::sequential, shoal, local);
          }
          if (cases.contains("rand_4k")) {
            measure("rand_4k", "reads/s", 1, this::random, shoal, local);
          }
          if (cases.contains("open_read_100k")) {
            measure("open_read_100k", "files/s", 1, this::smallFilesPass, shoal, local);
          }
          json.setLength(json.length() - 2);
          json.append("\n    }").append(p == runs.size() - 1 ? "\n" : ",\n");
          o.printf(
              Locale.ROOT,
              "%nmemory tier %s, page size %s (warm: %d MiB fetched in %d GETs)%n",
              tier,
              ps,
              warm.get("bytes_from_store") >> 20,
              warm.get("store_get_requests"));
          o.printf(
              Locale.ROOT, "%-16s %12s %12s %-8s %6s%n", "case", "local", "shoal", "unit", "ratio");
          for (String row : table) {
            o.println(row);
          }
        }
      }
    } finally {
      s3s.destroy();
      s3s.waitFor(10, TimeUnit.SECONDS);
    }
    json.append("  }\n}\n");
    String path =
        out.isEmpty()
            ? "benchmarks/results/cache-"
                + started.replace(":", "").replaceAll("\\..*", "")
                + ".json"
            : out;
    Files.createDirectories(new File(path).getAbsoluteFile().getParentFile().toPath());
    Files.write(new File(path).toPath(), json.toString().getBytes(StandardCharsets.UTF_8));
    o.println();
    o.println("results: " + path);
  }

  private static String loadavg() {
    try {
      return new String(
              Files.readAllBytes(new File("/proc/loadavg").toPath()), StandardCharsets.UTF_8)
          .trim();
    } catch (IOException e) {
      return "?";
    }
  }
}
