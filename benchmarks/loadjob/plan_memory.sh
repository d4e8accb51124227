#!/usr/bin/env bash
# The driver's memory and time per file when the Spark load job plans its tasks, jar against jar:
#   benchmarks/loadjob/plan_memory.sh FILES LABEL=JAR [LABEL=JAR...]
# Makes FILES empty-ish files (1 byte... 100 bytes) in 100 directories of a temporary directory,
# then runs PlanMemory.java once per jar (Hadoop and its dependencies from the spark35 venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
files="$1"; shift
jars_dir="$(echo "$repo"/.tools/spark35/lib/python3*/site-packages/pyspark/jars)"
work="$(mktemp -d /tmp/shoal-planmem-XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 - "$work/data" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"img{i:07d}.jpg"), "wb") as f:
        f.write(b"x" * (1 + i % 100))
PY
for spec in "$@"; do
  label="${spec%%=*}"; jar="${spec#*=}"
  mkdir -p "$work/classes-$label"
  javac -nowarn -d "$work/classes-$label" -cp "$jar:$jars_dir/*" "$here/PlanMemory.java"
  printf '%s: ' "$label"
  java -Xmx2g -cp "$work/classes-$label:$jar:$jars_dir/*" PlanMemory "$work/data" 2>/dev/null | tail -1
done
