#!/usr/bin/env bash
set -u
DATA="${YUNWANG_TEST_PG_DIR:-$PWD/var/test/pg}"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] && [ -f "$DATA/postmaster.pid" ] && su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D '$DATA' -m fast -w stop" >/dev/null 2>&1
exit 0
