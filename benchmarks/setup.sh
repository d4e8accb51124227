#!/usr/bin/env bash
# Installs what the benchmark needs beyond scripts/setup.sh, all into the git-ignored .tools/:
#
#   .tools/bench/m2/                       Maven's local repository (never ~/.m2)
#   .tools/bench/jars/s3a-hadoop<V>/       hadoop-aws <V> + its AWS SDK bundle, for each Spark venv
#                                          (V = the Hadoop version that Spark ships: 3.3.4 for
#                                          Spark 3.5, 3.4.x/3.5.x for Spark 4)
#   .tools/bench/jars/alluxio/             org.alluxio:alluxio-shaded-client + a 2 KB adapter jar
#                                          (benchmarks/peers/, compiled here) that makes Alluxio's
#                                          LocalCacheFileSystem usable as fs.s3a.impl
#   matplotlib in .tools/spark35           for the chart
#
# Safe to re-run; quick when everything is there. Needs scripts/setup.sh first (it calls it when
# the Spark venvs or s3s-fs are missing), Maven (apt-get install maven when missing) and a JDK.
#
#   benchmarks/setup.sh [--s3a spark35|spark4]... [--no-alluxio]
#
# --s3a VENV: the S3A jars of that Spark venv only (repeatable; default both); --no-alluxio: no
# Alluxio client. scripts/demo.sh uses them to fetch only what direct S3A on one Spark needs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TOOLS="$ROOT/.tools"
BT="$TOOLS/bench"
ALLUXIO_VERSION="${SHOAL_BENCH_ALLUXIO_VERSION:-2.9.3}"  # the last 2.x on Maven Central
log() { echo "[bench-setup] $*" >&2; }

s3a_venvs=() alluxio=1
while [ $# -gt 0 ]; do
  case "$1" in
    --s3a) case "${2:-}" in spark35|spark4) s3a_venvs+=("$2") ;;
             *) log "--s3a wants spark35 or spark4"; exit 2 ;; esac; shift 2 ;;
    --no-alluxio) alluxio=0; shift ;;
    *) log "unknown argument: $1"; exit 2 ;;
  esac
done
[ "${#s3a_venvs[@]}" -gt 0 ] || s3a_venvs=(spark35 spark4)

mkdir -p "$BT/jars"
exec 8>"$BT/.setup.lock"
flock 8

if [ ! -x "$TOOLS/spark35/bin/spark-submit" ] || [ ! -x "$TOOLS/s3s/bin/s3s-fs" ]; then
  log "Spark venv or s3s-fs missing: running scripts/setup.sh"
  "$ROOT/scripts/setup.sh"
fi

if ! command -v mvn >/dev/null 2>&1; then
  log "apt-get install maven"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends maven
fi
MVN=(mvn -q -B -Dmaven.repo.local="$BT/m2")

# mvn_copy GROUP:ARTIFACT:VERSION DIR: one artifact (no transitive dependencies) into DIR
mvn_copy() {
  local gav="$1" dir="$2"
  local a v; a="$(echo "$gav" | cut -d: -f2)"; v="$(echo "$gav" | cut -d: -f3)"
  [ -f "$dir/$a-$v.jar" ] && return 0
  log "maven: $gav"
  mkdir -p "$dir"
  if ! "${MVN[@]}" dependency:copy -Dartifact="$gav" -DoutputDirectory="$dir" >"$BT/mvn.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$BT/mvn.log" | grep -E "ERROR" | head -5 >&2
    log "maven could not fetch $gav"
    return 1
  fi
}

# pom_prop VERSION NAME: a property of org.apache.hadoop:hadoop-project:VERSION's pom
pom_prop() {
  local pom="$BT/m2/org/apache/hadoop/hadoop-project/$1/hadoop-project-$1.pom"
  if [ ! -f "$pom" ]; then
    "${MVN[@]}" dependency:get -Dartifact="org.apache.hadoop:hadoop-project:$1:pom" \
      -Dtransitive=false >"$BT/mvn.log" 2>&1 || true
  fi
  sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$pom" | head -1
}

# hadoop-aws and the AWS SDK it was built with, for each Spark venv's Hadoop
for venv in "${s3a_venvs[@]}"; do
  jars_dir="$(ls -d "$TOOLS/$venv"/lib/python3*/site-packages/pyspark/jars 2>/dev/null | head -1)"
  [ -n "$jars_dir" ] || { log "no $venv venv: skipping its S3A jars"; continue; }
  api="$(ls "$jars_dir"/hadoop-client-api-*.jar 2>/dev/null | head -1)"
  [ -n "$api" ] || continue
  hv="$(basename "$api" .jar)"; hv="${hv#hadoop-client-api-}"
  dir="$BT/jars/s3a-hadoop$hv"
  if [ -f "$dir/.complete" ]; then continue; fi
  (
    mvn_copy "org.apache.hadoop:hadoop-aws:$hv" "$dir"
    case "$hv" in
      3.3.*) mvn_copy "com.amazonaws:aws-java-sdk-bundle:$(pom_prop "$hv" aws-java-sdk.version)" "$dir" ;;
      *)
        mvn_copy "software.amazon.awssdk:bundle:$(pom_prop "$hv" aws-java-sdk-v2.version)" "$dir"
        aa="$(pom_prop "$hv" amazon-s3-analyticsaccelerator-s3.version)"
        if [ -n "$aa" ]; then
          mvn_copy "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:$aa" "$dir"
        fi
        ;;
    esac
    touch "$dir/.complete"
  ) || log "WARNING: S3A jars for Hadoop $hv incomplete (the configurations that need them are skipped)"
done

# Alluxio's client-side cache + the adapter
ad="$BT/jars/alluxio"
if [ "$alluxio" = 1 ]; then
  mvn_copy "org.alluxio:alluxio-shaded-client:$ALLUXIO_VERSION" "$ad" ||
    log "WARNING: no Alluxio client (the alluxio configuration is skipped)"
fi
src="$HERE/peers/AlluxioCachedS3AFileSystem.java"
adapter="$ad/shoal-bench-alluxio-s3a.jar"
if [ "$alluxio" = 1 ] && [ -f "$ad/alluxio-shaded-client-$ALLUXIO_VERSION.jar" ] &&
   { [ ! -f "$adapter" ] || [ "$src" -nt "$adapter" ]; }; then
  jars_dir="$(ls -d "$TOOLS/spark35"/lib/python3*/site-packages/pyspark/jars | head -1)"
  cp="$(ls "$jars_dir"/hadoop-client-api-*.jar | head -1):$(ls "$BT"/jars/s3a-hadoop3.3*/hadoop-aws-*.jar | head -1):$ad/alluxio-shaded-client-$ALLUXIO_VERSION.jar"
  classes="$(mktemp -d)"
  log "compiling the Alluxio adapter"
  javac -nowarn --release 8 -d "$classes" -cp "$cp" "$src" 2>&1 | grep -v "warning" >&2 || true
  jar cf "$adapter.tmp" -C "$classes" .
  mv "$adapter.tmp" "$adapter"
  rm -rf "$classes"
fi

# matplotlib for the chart
if ! "$TOOLS/spark35/bin/python" -c "import matplotlib" 2>/dev/null; then
  log "pip install matplotlib into .tools/spark35"
  "$TOOLS/spark35/bin/python" -m pip install -q --disable-pip-version-check matplotlib
fi
log "benchmark tools ready in ${BT#$ROOT/}"
