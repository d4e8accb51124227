"""PySpark job for the e2e tests: writes Parquet through Shoal, reads it back, renames, lists and
deletes it through the Hadoop FileSystem API, and dumps what it saw to JSON.

    spark-submit --jars shoal-0.1.0.jar <mount conf> write_check.py --out result.json \\
        --root NAME=URI [--root NAME=URI ...]

For every root URI (a directory in a writable Shoal mount, e.g. shoal:///s3out/run) it records,
each step guarded so that one broken operation shows up as one failed test:
  write:   a DataFrame of ROWS rows written as Parquet to URI/t, partitioned by `part`, with
           Spark's own commit protocol (FileOutputCommitter)
  read:    the rows read back from URI/t
  rename:  FileSystem.rename(URI/t, URI/renamed) and what exists afterwards
  list:    FileSystem.listFiles(URI/renamed, recursive) and listStatus(URI/renamed)
  reread:  the rows read back from URI/renamed
  delete:  FileSystem.delete(URI/renamed, recursive=true) and what exists afterwards
"""
import argparse
import json
import sys
import time
import traceback

ROWS = 500


def guarded(fn, *args):
    t0 = time.perf_counter()
    try:
        return {"ok": True, "value": fn(*args), "seconds": round(time.perf_counter() - t0, 3)}
    except Exception as e:  # a Py4J error carries the Java exception in its text
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:6000],
                "traceback": traceback.format_exc()[-4000:],
                "seconds": round(time.perf_counter() - t0, 3)}


def frame(spark):
    from pyspark.sql import functions as F

    return spark.range(0, ROWS).select(
        F.col("id"),
        (F.col("id") % 3).cast("int").alias("part"),
        (F.col("id") * 1.5).alias("score"),
        F.concat(F.lit("row-"), F.col("id").cast("string")).alias("name"),
        F.sha2(F.col("id").cast("string"), 256).alias("digest"),
    )


def rows(spark, uri):
    df = spark.read.parquet(uri)
    return {"columns": sorted(df.columns),
            "rows": [r.asDict() for r in df.orderBy("id").collect()]}


class Hadoop:
    """The Hadoop FileSystem API of the driver JVM, through Py4J."""

    def __init__(self, spark):
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()

    def path(self, uri):
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def fs(self, uri):
        return self.path(uri).getFileSystem(self.conf)

    def exists(self, uri):
        return bool(self.fs(uri).exists(self.path(uri)))

    def rename(self, src, dst):
        done = bool(self.fs(src).rename(self.path(src), self.path(dst)))
        return {"renamed": done, "src_exists": self.exists(src), "dst_exists": self.exists(dst),
                "filesystem": self.fs(src).getClass().getName()}

    def listing(self, uri):
        fs = self.fs(uri)
        files = []
        it = fs.listFiles(self.path(uri), True)
        while it.hasNext():
            st = it.next()
            files.append({"path": st.getPath().toString(), "length": st.getLen(),
                          "is_file": bool(st.isFile())})
        children = [{"path": st.getPath().toString(), "is_dir": bool(st.isDirectory())}
                    for st in fs.listStatus(self.path(uri))]
        return {"files": files, "children": children}

    def delete(self, uri):
        done = bool(self.fs(uri).delete(self.path(uri), True))
        return {"deleted": done, "exists": self.exists(uri)}


def write(spark, uri):
    frame(spark).repartition(4).write.mode("overwrite").partitionBy("part").parquet(uri)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", action="append", required=True, metavar="NAME=URI")
    args = ap.parse_args()

    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("shoal-e2e-write-check").getOrCreate()
    hadoop = Hadoop(spark)
    result = {"spark_version": spark.version, "rows": ROWS, "roots": {}}
    try:
        expected = [r.asDict() for r in frame(spark).orderBy("id").collect()]
        result["expected"] = expected
        for spec in args.root:
            name, _, uri = spec.partition("=")
            base = uri.rstrip("/")
            # short names: the test S3 server (s3s-fs) keeps a file named after each key, and
            # Spark's task attempt paths already come close to the 255-byte name limit
            table, renamed = base + "/t", base + "/renamed"
            steps = {}
            steps["write"] = guarded(write, spark, table)
            steps["read"] = guarded(rows, spark, table)
            steps["rename"] = guarded(hadoop.rename, table, renamed)
            steps["list"] = guarded(hadoop.listing, renamed)
            steps["reread"] = guarded(rows, spark, renamed)
            steps["delete"] = guarded(hadoop.delete, renamed)
            result["roots"][name] = {"uri": uri, "steps": steps}
    finally:
        with open(args.out, "w") as f:
            json.dump(result, f)
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
