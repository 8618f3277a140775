# Shared helpers for tests/env/setup-*.sh (sourced). Each setup script installs what its tests need
# and appends KEY=VALUE lines to $YUNWANG_TEST_ENV, which scripts/test.sh exports to pytest.
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  is_root || { echo "not root: cannot install ${missing[*]}" >&2; return 1; }
  if [ ! -f /tmp/.yunwang-apt-updated ]; then apt-get update -qq && touch /tmp/.yunwang-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
export_env() { echo "$1=$2" >> "$YUNWANG_TEST_ENV"; }
