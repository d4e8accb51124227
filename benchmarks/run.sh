#!/usr/bin/env bash
# The benchmark, one command: installs what it needs (benchmarks/setup.sh), then runs every
# configuration against the emulated remote store and writes the results.
#
#   benchmarks/run.sh [--quick] [--preset same-region|wan|loopback] [--size tiny|small|medium|large|N]
#                     [--epochs N] [--trials N] [--formats jpeg,parquet] [--scenarios epochs,trials]
#                     [--configs s3a,s3a-prefetch,alluxio,shoal,local] [--no-netns] ...
#
# `benchmarks/run.sh --help` lists every option. Results: benchmarks/results/PRESET-SIZE.{json,csv,md,png}
# (--quick: benchmarks/results/tmp/quick/). See benchmarks/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="$ROOT/.tools/spark35/bin/python"

case " $* " in
  *" --help "*|*" -h "*) ;;
  *) "$HERE/setup.sh" ;;
esac
[ -x "$PY" ] || { echo "run benchmarks/setup.sh first" >&2; exit 1; }

child=""
cleanup() {
  local rc=$?
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  # namespaces / veths of runs whose process is gone (bench.py removes its own on exit)
  "$PY" -c "import sys; sys.path.insert(0, '$HERE'); import netem; netem.cleanup_stale()" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$PY" "$HERE/bench.py" "$@" &
child=$!
wait "$child"
