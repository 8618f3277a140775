#!/usr/bin/env bash
# One command: set up and serve yunwang on its embedded defaults with the demo inventory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/yunwang demo "$@"
