#!/usr/bin/env bash
# One command: install what the suite needs (system packages, services), then lint, type-check and run every test.
# Extra arguments go to pytest instead (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
bash scripts/bootstrap.sh
mkdir -p var/test
export YUNWANG_TEST_ENV="$PWD/var/test/env"
: > "$YUNWANG_TEST_ENV"
teardown() { for f in tests/env/teardown-*.sh; do [ -f "$f" ] && bash "$f" || true; done; }
trap teardown EXIT
# The checks need no service: they run while the services start (their output is shown after the setup).
LINT_LOG=var/test/lint.log
( .venv/bin/ruff check . && .venv/bin/mypy && .venv/bin/lint-imports ) >"$LINT_LOG" 2>&1 &
LINT_PID=$!
for f in tests/env/setup-*.sh; do
  echo "== $f"; S0=$(date +%s); bash "$f"; echo "== $f took $(( $(date +%s) - S0 ))s"
done
set -a; . "$YUNWANG_TEST_ENV"; set +a
echo "== setup took $(( $(date +%s) - T0 ))s"
lint_rc=0; wait "$LINT_PID" || lint_rc=$?
cat "$LINT_LOG"
[ "$lint_rc" = 0 ] || { echo "== checks failed (ruff, mypy or lint-imports)"; exit "$lint_rc"; }
echo "== checks done at $(( $(date +%s) - T0 ))s"
rc=0
if [ $# -gt 0 ]; then
  .venv/bin/pytest "$@" || rc=$?
else
  # Unit tests are independent (a database of their own each), so they share the cores. Integration tests mostly
  # wait (servers starting, workers, probes), so three run at once; those sharing one resource (the test network,
  # OpenStack, the browser) are one xdist group each, run one after the other (tests/integration/conftest.py).
  .venv/bin/pytest tests/unit -n auto --maxprocesses=4 --durations=15 || rc=$?
  echo "== unit tests done at $(( $(date +%s) - T0 ))s"
  # Tests marked `alone` hold a wall-clock bound: they run afterwards, one at a time.
  .venv/bin/pytest tests/integration -n 3 --dist loadgroup -m "not alone" --durations=30 || rc=$?
  echo "== parallel integration tests done at $(( $(date +%s) - T0 ))s"
  .venv/bin/pytest tests/integration -m alone --durations=5 || rc=$?
fi
echo "== total $(( $(date +%s) - T0 ))s"
exit $rc
