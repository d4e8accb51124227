#!/usr/bin/env bash
# THE test command (README, CI): installs what is missing, then runs every check in order and
# stops at the first failure:
#
#   scripts/test.sh
#
#   setup            scripts/setup.sh
#   cargo fmt        cargo fmt --all -- --check
#   cargo clippy     cargo clippy --workspace --all-targets -- -D warnings
#   cargo test       cargo test --workspace           (SHOAL_TEST_S3S_BIN = the s3s-fs binary)
#   gradle test jar  gradle --no-daemon test checkJavaFormat jar
#                                                     (JUnit, Hadoop contract suites, the jar's
#                                                     classes on Hadoop 3.2.0 / 3.3.1 / 3.3.4 and
#                                                     Java 11 / 21 in child JVMs; google-java-format;
#                                                     the jar)
#   e2e spark 3.1    pytest tests/e2e --spark spark31  (spark-submit --jars <jar>, local[2], no
#                                                     fs.*.impl: the full suite on the oldest and
#   e2e spark 4      pytest tests/e2e --spark spark4    newest Spark: read and write with the
#                                                     DataFrame, RDD and Hadoop APIs, scheme
#                                                     registration, the jar on the start-up class
#                                                     path, overwritten objects (on 4); BigDL 2.4
#                                                     pipeline on 3.1, TorchDistributor on 4
#                                                     where setup installed torch, with
#                                                     SHOAL_SETUP_TORCH=1; skipped otherwise)
#   e2e spark 3.3    pytest tests/e2e --spark spark33  (smoke subset on the middle ones: the read
#   e2e spark 3.5    pytest tests/e2e --spark spark35   and write suites in one application,
#                                                     every API, reading once)
#   cluster          pytest tests/cluster --spark spark35
#                                                     (the Spark plugin and --jars alone in
#                                                      local-cluster mode, and a standalone cluster
#                                                      whose workers live in network namespaces;
#                                                      on Spark 3.5, whose e2e run is the smoke
#                                                      subset; `--spark spark4` or no option runs
#                                                      them on Spark 4 or both, by hand)
#   front ends       pytest tests/front                (the FUSE mount over a real S3 server, the C
#                                                      API from a C program, the Python package:
#                                                      pip install ./python, fsspec, pandas; in
#                                                      .tools/front; needs /dev/fuse and root or
#                                                      fusermount3)
#   benchmarks quick pytest benchmarks/test_store.py benchmarks/test_quick.py
#                                                     (the benchmark store serves stored ETags; the
#                                                      peers harness in --quick mode: that it runs,
#                                                      not how fast)
#   demo quick       pytest tests/demo                (scripts/demo.sh --quick: the table, the
#                                                      chart, warm trials all from the cache, and
#                                                      nothing left running, also when interrupted)
#
# A summary of the steps, with their times, ends the output.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$SHOAL_ROOT"

export SHOAL_TEST_S3S_BIN="$SHOAL_S3S_BIN"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

names=() results=() times=() notes=()
logdir="$(mktemp -d "${TMPDIR:-/tmp}/shoal-test.XXXXXX")"
current=""
t_all=$(date +%s)

summary() {
  local rc=$?
  if [ -n "$current" ]; then  # the step that was running when we stopped
    names+=("$current"); results+=("FAILED"); times+=("$(( $(date +%s) - t_step ))")
    notes+=("$(note "$current")")
  fi
  echo
  echo "================================ shoal test summary ================================"
  local i
  for i in "${!names[@]}"; do
    printf '  %-18s %-8s %5ss   %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" "${notes[$i]}"
  done
  for s in "${all_steps[@]}"; do
    local seen=0
    for n in "${names[@]}"; do [ "$n" = "$s" ] && seen=1; done
    [ "$seen" = 1 ] || printf '  %-18s %-8s\n' "$s" "not run"
  done
  echo "  ----------------------------------------------------------------------------------"
  if [ "$rc" = 0 ]; then
    printf '  %-18s %-8s %5ss\n' "all" "PASSED" "$(( $(date +%s) - t_all ))"
  else
    printf '  %-18s %-8s %5ss   (exit %s)\n' "all" "FAILED" "$(( $(date +%s) - t_all ))" "$rc"
  fi
  echo "===================================================================================="
  rm -rf "$logdir"
  exit "$rc"
}
trap summary EXIT

all_steps=("setup" "cargo fmt" "cargo clippy" "cargo test" "gradle test jar" "e2e spark 3.1"
  "e2e spark 4" "e2e spark 3.3" "e2e spark 3.5" "cluster" "front ends" "benchmarks quick" "demo quick")

# note NAME: a one-line result of a step, from its output (test counts)
note() {
  local log="$logdir/$1.log"
  [ -f "$log" ] || return 0
  case "$1" in
    "cargo test")
      grep -E '^test result:' "$log" | awk '{p+=$4; f+=$6; i+=$8} END {if (NR) printf "%d passed, %d failed, %d ignored", p, f, i}' ;;
    "gradle test jar")
      awk '$1 == "total" && NF == 5 {printf "JUnit: %d run, %d passed, %d failed, %d skipped", $2, $3, $4, $5}' "$log" | tail -1 ;;
    e2e*|cluster|front*|benchmarks*|demo*)
      grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | sed 's/^=* //; s/ =*$//' ;;
  esac
}

# step NAME COMMAND...: runs one step; a failure ends the script (set -e) through the summary.
step() {
  current="$1"; shift
  t_step=$(date +%s)
  echo
  shoal_log "=== $current: $*"
  "$@" 2>&1 | tee "$logdir/$current.log"
  names+=("$current"); results+=("passed"); times+=("$(( $(date +%s) - t_step ))")
  notes+=("$(note "$current")")
  current=""
}

e2e() {
  local venv="$1" spark="$2"
  "$venv/bin/python" -m pytest "$SHOAL_ROOT/tests/e2e" --spark "$spark" \
    -v -rs --durations=5
}

step "setup" "$SHOAL_ROOT/scripts/setup.sh"
step "cargo fmt" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo test" cargo test --workspace
step "gradle test jar" gradle --no-daemon test checkJavaFormat jar "-Pshoal.s3s.bin=$SHOAL_S3S_BIN" \
  "-Pshoal.java.homes=11=$SHOAL_JAVA11_HOME,21=$SHOAL_JAVA21_HOME"
step "e2e spark 3.1" e2e "$SHOAL_SPARK35_VENV" spark31
step "e2e spark 4" e2e "$SHOAL_SPARK35_VENV" spark4
step "e2e spark 3.3" e2e "$SHOAL_SPARK35_VENV" spark33
step "e2e spark 3.5" e2e "$SHOAL_SPARK35_VENV" spark35
step "cluster" "$SHOAL_SPARK35_VENV/bin/python" -m pytest "$SHOAL_ROOT/tests/cluster" \
  --spark spark35 -v -rs --durations=5
# The front ends: the debug `shoal` binary and libshoal.so that `cargo test` built; the Python
# package builds libshoal in release (its dependencies are built in release for the jar already).
front() {
  "$SHOAL_FRONT_VENV/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps \
    "$SHOAL_ROOT/python"
  SHOAL_BIN="$SHOAL_ROOT/target/debug/shoal" SHOAL_TEST_LIBSHOAL="$SHOAL_ROOT/target/debug/libshoal.so" \
    "$SHOAL_FRONT_VENV/bin/python" -m pytest "$SHOAL_ROOT/tests/front" -v -rs --durations=10
}
step "front ends" front
step "benchmarks quick" "$SHOAL_SPARK35_VENV/bin/python" -m pytest \
  "$SHOAL_ROOT/benchmarks/test_store.py" "$SHOAL_ROOT/benchmarks/test_quick.py" -v
step "demo quick" "$SHOAL_SPARK35_VENV/bin/python" -m pytest "$SHOAL_ROOT/tests/demo" -v \
  --durations=5
