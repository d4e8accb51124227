// Direct S3A's side of benchmarks/scale/s3a_listing.py: one recursive listing through Hadoop's
// S3AFileSystem, timed, as one JSON line on stdout.
//
//   java -cp CLASSES:JARS ListS3A s3a://bench/d http://127.0.0.1:PORT
//
// The JVM is warmed first: the path is listed once (first_list_s, a cold JVM), then again until
// at least WARM_S (5) seconds have gone on listing (warmups: the listings done, the first one
// included; at 10k objects the JIT needs several), then once more, timed, with the same file
// system (list_s, the figure compared). Each listing is fs.listFiles(path, true)
// iterated to the end, counting files: what Spark's InMemoryFileIndex and sc.binaryFiles do
// with a large directory tree. Any credentials: the endpoint is the benchmark's listing server.

import java.net.URI;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;

public class ListS3A {
    static final long WARM_S = 5;

    static long count(FileSystem fs, Path p) throws Exception {
        long n = 0;
        RemoteIterator<LocatedFileStatus> it = fs.listFiles(p, true);
        while (it.hasNext()) {
            if (it.next().isFile()) {
                n++;
            }
        }
        return n;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: ListS3A s3a://bench/d http://127.0.0.1:PORT");
            System.exit(2);
        }
        Path path = new Path(args[0]);
        Configuration conf = new Configuration();
        conf.set("fs.s3a.impl", "org.apache.hadoop.fs.s3a.S3AFileSystem");
        conf.set("fs.s3a.endpoint", args[1]);
        conf.set("fs.s3a.endpoint.region", "us-east-1");
        conf.setBoolean("fs.s3a.path.style.access", true);
        conf.setBoolean("fs.s3a.connection.ssl.enabled", false);
        conf.set("fs.s3a.aws.credentials.provider",
                "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider");
        conf.set("fs.s3a.access.key", "bench");
        conf.set("fs.s3a.secret.key", "bench");
        conf.setInt("fs.s3a.bucket.probe", 0);
        FileSystem fs = FileSystem.newInstance(URI.create(args[0]), conf);
        long t0 = System.nanoTime();
        long first = count(fs, path);
        double firstS = (System.nanoTime() - t0) / 1e9;
        int warmups = 1;
        while (System.nanoTime() - t0 < WARM_S * 1_000_000_000L) {
            if (count(fs, path) != first) {
                throw new IllegalStateException("listings differ");
            }
            warmups++;
        }
        long t1 = System.nanoTime();
        long files = count(fs, path);
        double listS = (System.nanoTime() - t1) / 1e9;
        fs.close();
        if (first != files) {
            throw new IllegalStateException("listings differ: " + first + " then " + files);
        }
        System.out.printf("{\"files\":%d,\"list_s\":%.4f,\"first_list_s\":%.4f,\"warmups\":%d,"
                + "\"paging_maximum\":%d}%n",
                files, listS, firstS, warmups, conf.getInt("fs.s3a.paging.maximum", 5000));
    }
}
