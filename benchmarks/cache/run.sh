#!/usr/bin/env bash
# Runs the cache benchmark (CacheBench.java): Shoal's warm node cache against local files, through
# the Hadoop API, for page sizes 256k, 1m and 4m. See README.md beside this script.
#
#   benchmarks/cache/run.sh                         # everything (a few minutes)
#   benchmarks/cache/run.sh -Dbench.page.sizes=1m -Dbench.reps=3
#
# Needs the jar (gradle --no-daemon jar), s3s-fs and Spark 3.5's Hadoop jars (scripts/setup.sh
# installs both into .tools/). Arguments are passed to the JVM (-Dbench.*=...).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
jar=${SHOAL_JAR:-build/libs/shoal-0.1.0.jar}
hadoop_jars=${HADOOP_JARS:-.tools/spark35/lib/python3.11/site-packages/pyspark/jars}
s3s=${SHOAL_S3S_BIN:-.tools/s3s/bin/s3s-fs}
[ -f "$jar" ] || { echo "no $jar: build it with gradle --no-daemon jar" >&2; exit 1; }
[ -d "$hadoop_jars" ] || { echo "no $hadoop_jars: run scripts/setup.sh (or set HADOOP_JARS)" >&2; exit 1; }
[ -x "$s3s" ] || { echo "no $s3s: run scripts/setup.sh (or set SHOAL_S3S_BIN)" >&2; exit 1; }
classes=build/bench-cache
mkdir -p "$classes"
javac -nowarn -d "$classes" -cp "$jar:$hadoop_jars/*" benchmarks/cache/CacheBench.java
exec java -Xmx2g -Dbench.s3s="$s3s" "$@" -cp "$classes:$jar:$hadoop_jars/*" CacheBench
