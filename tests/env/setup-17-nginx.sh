#!/usr/bin/env bash
# nginx from Debian's `nginx` package, for the production-topology chaos test (tests/integration/platform/test_chaos.py).
# The Debian service is not used: the test runs the binary itself with its own configuration on a free 127.0.0.1
# port (`-g 'daemon off;'`, its own pid, log and temp paths under the test's tmp dir). Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if apt_install nginx; then
  # the package's postinst may start its own service on :80; we do not need it (the test runs its own process)
  bash "$(dirname "$0")/teardown-17-nginx.sh"
  export_env YUNWANG_TEST_NGINX /usr/sbin/nginx
else
  echo "nginx not installed (not root?): the chaos test will skip" >&2
fi
