#!/usr/bin/env bash
# The Shoal demo, on a fresh machine:
#
#   scripts/demo.sh [--spark 3.5|4] [--no-build] [--keep]
#
# 1. scripts/setup.sh (gradle, the local S3 server, PySpark venvs)
# 2. gradle --no-daemon jar (builds the Rust library with cargo and packs it into the jar)
# 3. generates an image dataset (JPEGs in class directories + a Parquet table) into a temp dir,
#    served by a local S3 server (s3s-fs on 127.0.0.1) as bucket `demo`
# 4. spark-submit --jars build/libs/shoal-0.1.0.jar examples/image_pipeline.py, with the bucket
#    mounted at /data through Spark conf, reading shoal:///data/... and the Parquet table
#    through alluxio://...; run twice, as two Spark applications: the second reads from Shoal's
#    node cache, and the demo prints both load times, the speedup and the second's hit ratio
# 5. stops the server and removes the temp dir (--keep leaves it)
# Dataset size: SHOAL_DEMO_TRAIN_PER_CLASS (default 60), SHOAL_DEMO_CLASSES (default 4).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

spark=3.5 build=1 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --spark) spark="$2"; shift 2 ;;
    --spark=*) spark="${1#*=}"; shift ;;
    --no-build) build=0; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) shoal_die "unknown argument: $1 (see --help)" ;;
  esac
done
case "$spark" in
  3.5|35|spark35) venv="$SHOAL_SPARK35_VENV" ;;
  4|4.x|spark4) venv="$SHOAL_SPARK4_VENV" ;;
  *) shoal_die "--spark must be 3.5 or 4" ;;
esac

t_start=$(date +%s)
shoal_log "1/5 setup"
"$SHOAL_ROOT/scripts/setup.sh"

if [ "$build" = 1 ]; then
  shoal_log "2/5 building the jar: gradle --no-daemon jar (cargo build --release inside; minutes the first time)"
  (cd "$SHOAL_ROOT" && gradle --no-daemon -q jar)
fi
[ -f "$SHOAL_JAR" ] || shoal_die "$SHOAL_JAR is missing (build it: gradle --no-daemon jar)"
shoal_log "jar: ${SHOAL_JAR#$SHOAL_ROOT/} ($(du -h "$SHOAL_JAR" | cut -f1))"

work="$(mktemp -d "${TMPDIR:-/tmp}/shoal-demo.XXXXXX")"
server_pid="" proxy_pid=""
cleanup() {
  local rc=$?
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$keep" = 1 ]; then shoal_log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spark-submit reads classes from the jar lazily: run a copy, so that a rebuild cannot touch it
cp "$SHOAL_JAR" "$work/shoal.jar"

shoal_log "3/5 generating the dataset into bucket 'demo' (${work})"
py="$venv/bin/python"
"$py" "$SHOAL_ROOT/scripts/gen_dataset.py" --out "$work/store/demo/datasets" \
  --classes "${SHOAL_DEMO_CLASSES:-4}" --train-per-class "${SHOAL_DEMO_TRAIN_PER_CLASS:-60}" \
  --test-per-class 15 --large 2

"$py" "$SHOAL_ROOT/scripts/s3server.py" --root "$work/store" --info-file "$work/s3.json" \
  --log "$work/s3s-fs.log" >/dev/null &
server_pid=$!
for _ in $(seq 1 300); do
  [ -f "$work/s3.json" ] && break
  kill -0 "$server_pid" 2>/dev/null || shoal_die "the S3 server did not start: $(tail -c 2000 "$work/s3s-fs.log" 2>/dev/null)"
  sleep 0.1
done
[ -f "$work/s3.json" ] || shoal_die "the S3 server did not answer within 30 s"
s3() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/s3.json" "$1"; }
# The store is across a link: a proxy on 127.0.0.1 adds a round trip per request and caps the
# bandwidth, as a bucket in another region would (SHOAL_DEMO_RTT_MS, SHOAL_DEMO_MBIT).
upstream="$(s3 endpoint)"
"$py" "$SHOAL_ROOT/benchmarks/delayproxy.py" --upstream "${upstream#http://}" \
  --rtt-ms "${SHOAL_DEMO_RTT_MS:-20}" --conn-mbit "${SHOAL_DEMO_MBIT:-200}" \
  --info-file "$work/link.json" >/dev/null 2>"$work/link.log" &
proxy_pid=$!
for _ in $(seq 1 100); do [ -f "$work/link.json" ] && break; sleep 0.1; done
[ -f "$work/link.json" ] || shoal_die "the link emulator did not start: $(tail -c 2000 "$work/link.log")"
endpoint="http://127.0.0.1:$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" "$work/link.json")"
shoal_log "S3 server (s3s-fs) on $upstream, bucket 'demo' = $work/store/demo; reached through a" \
  "link of ${SHOAL_DEMO_RTT_MS:-20} ms per request and ${SHOAL_DEMO_MBIT:-200} Mbit/s at $endpoint"

shoal_log "4/5 spark-submit examples/image_pipeline.py (Spark from ${venv#$SHOAL_ROOT/}, local[2])"
shoal_spark_env "$venv"
m=spark.hadoop.shoal.mount.data
secret="$(s3 secret_key)"
cmd=(spark-submit --master 'local[2]'
  --jars "$work/shoal.jar"
  --driver-java-options "-Dlog4j2.configurationFile=file:$SHOAL_ROOT/scripts/log4j2-quiet.properties"
  --conf spark.ui.enabled=false
  --conf spark.driver.host=127.0.0.1
  --conf "$m.path=/data"
  --conf "$m.uri=s3://demo/datasets"
  --conf "$m.option.aws_endpoint=$endpoint"
  --conf "$m.option.aws_access_key_id=$(s3 access_key)"
  --conf "$m.option.aws_secret_access_key=$secret"
  --conf "$m.option.aws_region=us-east-1"
  --conf "$m.option.aws_allow_http=true"
  --conf "$m.readonly=true"
  --conf "spark.hadoop.shoal.cache.dirs=$work/cache"
  "$SHOAL_ROOT/examples/image_pipeline.py"
  --images shoal:///data/images/train
  --parquet alluxio://localhost:19998/data/parquet/images.parquet
  --epochs 1)
# show the command (without the secret), then run it: twice, as two Spark applications (two
# training trials), the second finding the pages the first left in the node cache
line=""
for a in "${cmd[@]}"; do
  if [[ ( "$a" == --* || "$a" == *.py ) && -n "$line" ]]; then printf '%s\\\n' "$line" >&2; line="    "; fi
  line+="$(printf '%q' "${a//$secret/****}") "
done
printf '%s\n' "$line" >&2
for app in 1 2; do
  shoal_log "application $app of 2"
  "${cmd[@]}" --json-out "$work/result-$app.json"
done
"$py" - "$work/result-1.json" "$work/result-2.json" <<'PY'
import json, sys
first, second = (json.load(open(p)) for p in sys.argv[1:3])
t1, t2 = first["epochs"][0]["seconds"], second["epochs"][0]["seconds"]
share = second["epochs"][0].get("shoal") or {}
print("\n== two applications over the same images (each a new Spark application, like trials)")
print(f"  application 1 (cold, from the S3 store): {t1:8.2f} s")
print(f"  application 2 (warm, from Shoal's cache): {t2:8.2f} s")
print(f"  speedup: {t1 / max(t2, 1e-9):.2f}x")
if share.get("hit_ratio") is not None:
    print(f"  application 2 hit ratio: {share['hit_ratio']:.1%} of image bytes from the node cache "
          f"({share['bytes_from_cache']} bytes), {share['bytes_from_store']} bytes and "
          f"{share['store_requests']} requests to the store")
PY

shoal_log "5/5 done in $(( $(date +%s) - t_start )) s; stopping the S3 server"
