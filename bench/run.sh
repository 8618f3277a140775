#!/usr/bin/env bash
# One command for the benchmarks: `bash bench/run.sh` runs every bench/bench_*.py (or the ones named:
# `bash bench/run.sh inventory rates`). Each prints its figures and rewrites its own section of bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ $# -eq 0 ]; then set -- $(ls bench/bench_*.py | sed 's#bench/bench_##; s#\.py$##'); fi
for name in "$@"; do
  echo "== bench $name"
  .venv/bin/python "bench/bench_${name}.py"
done
