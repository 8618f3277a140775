#!/usr/bin/env bash
# Creates .venv from uv.lock with Python 3.11 (installs python3-venv first when it is missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1; then
  if [ ! -x .tools/bin/uv ]; then
    if ! python3 -m venv .tools 2>/dev/null; then
      [ "$(id -u)" = 0 ] || { echo "python3-venv is missing; install it (apt-get install python3-venv)" >&2; exit 1; }
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf .tools && python3 -m venv .tools
    fi
    .tools/bin/pip install -q "uv==${UV_VERSION}"
  fi
  export PATH="$PWD/.tools/bin:$PATH"
fi
UV_PYTHON="${UV_PYTHON:-$(command -v python3.11 || command -v python3)}" uv sync --frozen --quiet --compile-bytecode
# Byte-compiled now, because PYTHONDONTWRITEBYTECODE (set on many CI machines) makes every process compile every
# module again: `yunwang --help` took 6.6 s of CPU instead of 2.6 s, and the suite starts hundreds of them.
.venv/bin/python -m compileall -q -j 0 orchestrator core inventory collectors migrations_plan dashboards >/dev/null
