"""PySpark job for the e2e tests: reads and writes through Shoal with the DataFrame API, the RDD
API and the plain Hadoop FileSystem API, and dumps what it saw to JSON.

    spark-submit --jars shoal-0.1.0.jar <mount conf> suite.py --out result.json \\
        [--read NAME=URI ...] [--repeat 2] [--write NAME=URI ...] \\
        [--apis dataframe,rdd,hadoop] [--first dataframe|rdd|hadoop] [--context-only]

Reading, for every root URI (e.g. shoal:///data, alluxio://master:19998/data) and every pass:
  dataframe:  images       every file under URI/images via binaryFile (recursive): path, length,
                           modificationTime, sha256 of the content (computed in the JVM)
              images_glob  the same with pathGlobFilter=*.jpg, under URI/images/train only
              parquet      every row of URI/parquet/images.parquet (the image column as sha256 +
                           length), and label_id = 1 with two columns (pruning, row groups)
  rdd:        images_rdd   sc.binaryFiles(URI/images/*/*/*): path, length, sha256 (in Python)
  hadoop:     images_hadoop  FileSystem.listFiles(URI/images, recursive), then each file opened
                           and read through the FileSystem (sha256 in the JVM): path, length, mtime
Writing, for every root URI (a directory in a writable mount):
  dataframe:  write, read, rename, list, reread, delete: Parquet written to URI/t with Spark's
              commit protocol, partitioned by `part`, renamed, listed and deleted through the
              Hadoop API
  rdd:        rdd_write, rdd_read, rdd_delete: saveAsTextFile(URI/r), read back with textFile
  hadoop:     hadoop_write, hadoop_read, hadoop_delete: FileSystem.create / open / delete of
              URI/h.bin

--first names the API that touches Shoal first in this JVM (for the scheme registration tests);
--context-only starts a SparkContext and no SparkSession until a DataFrame section needs one.
Every section is guarded: a failure is recorded (type and message) and the job goes on, so that
one broken path shows up as one failed test. `filesystem` records the FileSystem class of each
scheme, `registered` whether the JVM resolved the schemes before the first section.
"""
import argparse
import hashlib
import json
import sys
import time
import traceback

ROWS = 500
APIS = ("dataframe", "rdd", "hadoop")


def guarded(fn, *args):
    t0 = time.perf_counter()
    try:
        return {"ok": True, "value": fn(*args), "seconds": round(time.perf_counter() - t0, 3)}
    except Exception as e:  # a Py4J error carries the Java exception in its text
        return {"ok": False, "error": f"{type(e).__name__}: {e}"[:6000],
                "traceback": traceback.format_exc()[-4000:],
                "seconds": round(time.perf_counter() - t0, 3)}


class Job:
    def __init__(self, context_only):
        from pyspark import SparkConf, SparkContext

        if context_only:
            self.sc = SparkContext(conf=SparkConf().setAppName("shoal-e2e-suite"))
            self._spark = None
        else:
            from pyspark.sql import SparkSession

            self._spark = SparkSession.builder.appName("shoal-e2e-suite").getOrCreate()
            self.sc = self._spark.sparkContext
        self.jvm = self.sc._jvm
        self.conf = self.sc._jsc.hadoopConfiguration()

    @property
    def spark(self):
        if self._spark is None:
            from pyspark.sql import SparkSession

            self._spark = SparkSession.builder.getOrCreate()
        return self._spark

    # ---- the Hadoop FileSystem API, through Py4J ----------------------------------------------

    def path(self, uri):
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def fs(self, uri):
        return self.path(uri).getFileSystem(self.conf)

    def exists(self, uri):
        return bool(self.fs(uri).exists(self.path(uri)))

    def sha256(self, fs, path):
        """Reads a file through the FileSystem, hashing in the JVM (commons-codec, in every
        Spark's jars)."""
        stream = fs.open(path)
        try:
            return self.jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream)
        finally:
            stream.close()

    # ---- reading -------------------------------------------------------------------------------

    def images_df(self, uri, glob=None):
        from pyspark.sql import functions as F

        reader = self.spark.read.format("binaryFile").option("recursiveFileLookup", "true")
        if glob:
            reader = reader.option("pathGlobFilter", glob)
        rows = reader.load(uri).select(
            "path", "length", F.col("modificationTime").cast("long").alias("mtime"),
            F.sha2("content", 256).alias("sha256"),
            F.expr("octet_length(content)").alias("content_length"),
        ).collect()
        return [r.asDict() for r in rows]

    def parquet_df(self, uri):
        from pyspark.sql import functions as F

        df = self.spark.read.parquet(uri)
        cols = [c for c in df.columns if c != "image"]
        rows = df.select(*cols, F.sha2("image", 256).alias("image_sha256"),
                         F.expr("octet_length(image)").alias("image_length")).collect()
        filtered = df.where("label_id = 1").select("path", "nbytes").collect()
        return {"columns": df.columns, "rows": [r.asDict() for r in rows],
                "filtered": [r.asDict() for r in filtered],
                "partitions": df.rdd.getNumPartitions()}

    def images_rdd(self, uri):
        def describe(kv):
            import hashlib as h

            path, data = kv
            return {"path": path, "length": len(data), "sha256": h.sha256(data).hexdigest()}

        return self.sc.binaryFiles(uri + "/*/*/*").map(describe).collect()

    def walk(self, uri):
        """(FileSystem, status) of every file below ``uri``: Hadoop's recursive listFiles."""
        fs = self.fs(uri)
        it = fs.listFiles(self.path(uri), True)
        while it.hasNext():
            yield fs, it.next()

    def images_hadoop(self, uri):
        return [{"path": st.getPath().toString(), "length": st.getLen(),
                 "mtime": st.getModificationTime(), "sha256": self.sha256(fs, st.getPath())}
                for fs, st in self.walk(uri)]

    def read_sections(self, api, base):
        if api == "dataframe":
            return {"images": guarded(self.images_df, base + "/images"),
                    "images_glob": guarded(self.images_df, base + "/images/train", "*.jpg"),
                    "parquet": guarded(self.parquet_df, base + "/parquet/images.parquet")}
        if api == "rdd":
            return {"images_rdd": guarded(self.images_rdd, base + "/images")}
        return {"images_hadoop": guarded(self.images_hadoop, base + "/images")}

    # ---- writing -------------------------------------------------------------------------------

    def frame(self):
        from pyspark.sql import functions as F

        return self.spark.range(0, ROWS).select(
            F.col("id"),
            (F.col("id") % 3).cast("int").alias("part"),
            (F.col("id") * 1.5).alias("score"),
            F.concat(F.lit("row-"), F.col("id").cast("string")).alias("name"),
            F.sha2(F.col("id").cast("string"), 256).alias("digest"),
        )

    def write_df(self, uri):
        self.frame().repartition(4).write.mode("overwrite").partitionBy("part").parquet(uri)
        return True

    def rows(self, uri):
        df = self.spark.read.parquet(uri)
        return {"columns": sorted(df.columns),
                "rows": [r.asDict() for r in df.orderBy("id").collect()]}

    def rename(self, src, dst):
        done = bool(self.fs(src).rename(self.path(src), self.path(dst)))
        return {"renamed": done, "src_exists": self.exists(src), "dst_exists": self.exists(dst)}

    def listing(self, uri):
        files = [{"path": st.getPath().toString(), "length": st.getLen(),
                  "is_file": bool(st.isFile())} for _, st in self.walk(uri)]
        children = [{"path": st.getPath().toString(), "is_dir": bool(st.isDirectory())}
                    for st in self.fs(uri).listStatus(self.path(uri))]
        return {"files": files, "children": children}

    def delete(self, uri):
        done = bool(self.fs(uri).delete(self.path(uri), True))
        return {"deleted": done, "exists": self.exists(uri)}

    def rdd_write(self, uri):
        self.sc.parallelize([f"line {i}" for i in range(ROWS)], 3).saveAsTextFile(uri)
        return True

    def rdd_read(self, uri):
        return sorted(self.sc.textFile(uri).collect())

    def hadoop_write(self, uri, data):
        fs = self.fs(uri)
        out = fs.create(self.path(uri), False)
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return True

    def hadoop_read(self, uri):
        fs = self.fs(uri)
        st = fs.getFileStatus(self.path(uri))
        return {"length": st.getLen(), "sha256": self.sha256(fs, self.path(uri))}

    def write_sections(self, api, base):
        steps = {}
        if api == "dataframe":
            # short names: the test S3 server (s3s-fs) keeps a file named after each key, and
            # Spark's task attempt paths already come close to the 255-byte name limit
            table, renamed = base + "/t", base + "/renamed"
            steps["write"] = guarded(self.write_df, table)
            steps["read"] = guarded(self.rows, table)
            steps["rename"] = guarded(self.rename, table, renamed)
            steps["list"] = guarded(self.listing, renamed)
            steps["reread"] = guarded(self.rows, renamed)
            steps["delete"] = guarded(self.delete, renamed)
        elif api == "rdd":
            steps["rdd_write"] = guarded(self.rdd_write, base + "/r")
            steps["rdd_read"] = guarded(self.rdd_read, base + "/r")
            steps["rdd_delete"] = guarded(self.delete, base + "/r")
        else:
            data = hashlib.sha256(b"shoal").digest() * 40_000  # 1.28 MB: more than one page
            steps["hadoop_write"] = guarded(self.hadoop_write, base + "/h.bin", data)
            steps["hadoop_read"] = guarded(self.hadoop_read, base + "/h.bin")
            steps["hadoop_delete"] = guarded(self.delete, base + "/h.bin")
            steps["hadoop_expected"] = {"ok": True, "value": {
                "length": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
        return steps

    def filesystem(self, scheme):
        return self.jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(
            scheme, self.conf).getName()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--read", action="append", default=[], metavar="NAME=URI")
    ap.add_argument("--write", action="append", default=[], metavar="NAME=URI")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--apis", default=",".join(APIS))
    ap.add_argument("--first", choices=APIS)
    ap.add_argument("--context-only", action="store_true")
    args = ap.parse_args()
    apis = [a for a in args.apis.split(",") if a]
    if args.first:
        apis = [args.first] + [a for a in apis if a != args.first]
    if args.context_only and apis[0] == "dataframe":
        ap.error("--context-only needs an RDD or Hadoop section first")

    job = Job(args.context_only)
    result = {"spark_version": job.sc.version, "apis": apis, "read": {}, "write": {}}
    try:
        # Whether this JVM resolves the schemes before anything of Shoal's was asked for.
        result["registered"] = guarded(job.filesystem, "shoal")
        for spec in args.read:
            name, _, uri = spec.partition("=")
            base = uri.rstrip("/")
            passes = []
            for _ in range(args.repeat):
                sections = {}
                for api in apis:
                    sections.update(job.read_sections(api, base))
                passes.append(sections)
            result["read"][name] = {"uri": uri, "passes": passes}
        for spec in args.write:
            name, _, uri = spec.partition("=")
            steps = {}
            for api in apis:
                steps.update(job.write_sections(api, uri.rstrip("/")))
            result["write"][name] = {"uri": uri, "steps": steps}
        if "dataframe" in apis and args.write:
            result["expected"] = [r.asDict() for r in job.frame().orderBy("id").collect()]
            result["rows"] = ROWS
        result["filesystem"] = {s: guarded(job.filesystem, s) for s in ("shoal", "alluxio")}
    finally:
        with open(args.out, "w") as f:
            json.dump(result, f)
        job.sc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
