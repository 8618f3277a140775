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
for f in tests/env/setup-*.sh; do
  echo "== $f"; bash "$f"
done
set -a; . "$YUNWANG_TEST_ENV"; set +a
echo "== setup took $(( $(date +%s) - T0 ))s"
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports
rc=0
if [ $# -gt 0 ]; then
  .venv/bin/pytest "$@" || rc=$?
else
  # Unit tests are independent (a database of their own each), so they share the cores; the integration tests
  # drive shared services (OpenStack, the test network, browsers) and run one at a time.
  .venv/bin/pytest tests/unit -n auto --maxprocesses=4 --durations=15 || rc=$?
  .venv/bin/pytest tests/integration --durations=30 || rc=$?
fi
echo "== total $(( $(date +%s) - T0 ))s"
exit $rc
