#!/usr/bin/env bash
# PostgreSQL from Debian on 127.0.0.1:55432, a throwaway cluster under var/test/pg, for the store tests
# (YUNWANG_TEST_PG_PORT / YUNWANG_TEST_PG_DIR start a second one beside it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
is_root || { echo "postgresql: not root, PostgreSQL store tests will be skipped"; exit 0; }
apt_install postgresql
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DATA="${YUNWANG_TEST_PG_DIR:-$PWD/var/test/pg}"; PORT="${YUNWANG_TEST_PG_PORT:-55432}"
if ! su postgres -s /bin/sh -c "$PGBIN/pg_isready -h 127.0.0.1 -p $PORT" >/dev/null 2>&1; then
  rm -rf "$DATA"; mkdir -p "$DATA"; chown postgres "$DATA"
  su postgres -s /bin/sh -c "$PGBIN/initdb -D '$DATA' -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D '$DATA' -l '$DATA/log' -o \"-h 127.0.0.1 -p $PORT -k /tmp -F -c fsync=off -c full_page_writes=off -c max_connections=200\" -w start" >/dev/null
fi
export_env YUNWANG_TEST_PG_URL "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
echo "postgresql: ready on 127.0.0.1:$PORT"
