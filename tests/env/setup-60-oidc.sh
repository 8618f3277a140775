#!/usr/bin/env bash
# A real OpenID Connect provider for the single sign-on tests: the certified npm package `oidc-provider`
# (tests/env/oidc: package.json, package-lock.json, provider.mjs), installed with `npm ci` under var/test/oidc
# and started on 127.0.0.1:29460 (below the ephemeral range 32768–60999: after OpenStack's connection churn a port there can be taken). Idempotent: a running provider is kept, an unchanged lock is not reinstalled.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SRC="$(cd "$(dirname "$0")/oidc" && pwd)"
DIR="$PWD/var/test/oidc"; PORT=29460; ISSUER="http://127.0.0.1:$PORT"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm || { echo "oidc: node/npm missing and not root: single sign-on tests will skip" >&2; exit 0; }
fi
command -v curl >/dev/null 2>&1 || apt_install curl
mkdir -p "$DIR"
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/provider.mjs" "$DIR/"
if ! cmp -s "$SRC/package-lock.json" "$DIR/.installed-lock.json" || [ ! -d "$DIR/node_modules/oidc-provider" ]; then
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$SRC/package-lock.json" "$DIR/.installed-lock.json"
fi
ready() { curl -sf "$ISSUER/.well-known/openid-configuration" 2>/dev/null | grep -q "\"issuer\":\"$ISSUER\""; }
if ! ready; then
  # exec: the pid written is node's own, so teardown-60-oidc.sh stops exactly this process
  (cd "$DIR" && exec env OIDC_PORT=$PORT nohup node provider.mjs >"$DIR/provider.log" 2>&1) &
  echo $! >"$DIR/provider.pid"
  for _ in $(seq 1 60); do ready && break; sleep 0.5; done
  ready || { echo "oidc: provider did not start: $(tail -5 "$DIR/provider.log")" >&2; exit 1; }
fi
export_env YUNWANG_TEST_OIDC_ISSUER "$ISSUER"
echo "oidc: provider ready at $ISSUER"
