#!/usr/bin/env bash
# Debian's Chromium (driven by Playwright's Python package, never `playwright install`) and CJK fonts,
# for the office page test (tests/integration/web).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
is_root || { echo "chromium: not root, browser tests skip unless chromium is already installed"; exit 0; }
apt_install chromium fonts-noto-cjk
export_env YUNWANG_TEST_CHROMIUM /usr/bin/chromium
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
