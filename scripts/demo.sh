#!/usr/bin/env bash
# The Shoal demo, on a fresh machine:
#
#   scripts/demo.sh [--link loopback|same-region|wan] [--trials N] [--quick] [--spark 3.5|4]
#                   [--no-build] [--out DIR] [--keep] ...      (--help lists every option)
#
# 1. setup: scripts/setup.sh (gradle, the S3 server, the PySpark venvs), then
#    benchmarks/setup.sh --s3a <venv> --no-alluxio (hadoop-aws + the AWS SDK for direct S3A, from
#    Maven Central, and matplotlib for the chart)
# 2. gradle --no-daemon jar (cargo builds the Rust library inside; --no-build skips it)
# 3. scripts/demo.py: an ImageNet-shaped dataset in a local S3 server (s3s-fs) behind an emulated
#    link (the benchmark harness's: a network namespace shaped with tc plus a delay proxy, or the
#    proxy alone), then training trials, each a new Spark application running the harness's
#    workload, with direct S3A and with Shoal; a table of the trials and a chart
#    (build/demo/demo-LINK.png by default). Everything it started and its temporary directory are
#    removed at the end, also on Ctrl-C and SIGTERM.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build=1 spark=3.5 args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    *) args+=("$a") ;;
  esac
done
# Check the arguments before minutes of setup (demo.py parses them with the standard library).
if command -v python3 >/dev/null 2>&1; then
  case " ${args[*]-} " in
    *" -h "*|*" --help "*) exec python3 "$SHOAL_ROOT/scripts/demo.py" --help ;;
  esac
  python3 "$SHOAL_ROOT/scripts/demo.py" --parse-only ${args[@]+"${args[@]}"} || exit 2
fi
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --spark) spark="${args[$((i + 1))]:-3.5}" ;;
    --spark=*) spark="${args[$i]#*=}" ;;
  esac
done
venv_name=spark35; [ "$spark" = 4 ] && venv_name=spark4

t_start=$(date +%s)
shoal_log "1/3 setup"
"$SHOAL_ROOT/scripts/setup.sh"
"$SHOAL_ROOT/benchmarks/setup.sh" --s3a "$venv_name" --no-alluxio

if [ "$build" = 1 ]; then
  shoal_log "2/3 building the jar: gradle --no-daemon jar (cargo build --release inside; minutes the first time)"
  (cd "$SHOAL_ROOT" && gradle --no-daemon -q jar)
fi
[ -f "$SHOAL_JAR" ] || shoal_die "$SHOAL_JAR is missing (build it: gradle --no-daemon jar)"
shoal_log "jar: ${SHOAL_JAR#$SHOAL_ROOT/} ($(du -h "$SHOAL_JAR" | cut -f1)); setup and build took $(( $(date +%s) - t_start )) s"

shoal_log "3/3 the demo: scripts/demo.py ${args[*]-}"
# exec: Ctrl-C and kill reach demo.py itself, which stops what it started and cleans up
exec "$SHOAL_SPARK35_VENV/bin/python" "$SHOAL_ROOT/scripts/demo.py" ${args[@]+"${args[@]}"}
