#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL 15 server, then stop and remove the server.
# The server runs as an unprivileged user (PostgreSQL refuses root), listens on a free
# loopback port and keeps its data and socket in a fresh temporary directory.
#   usage: tests/with-postgres.sh COMMAND [ARGS...]
set -euo pipefail

find_pgbin() {
  local candidate
  for candidate in "${PGBIN:-}" /usr/lib/postgresql/15/bin "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /x/x)")"; do
    if [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then echo "$candidate"; return; fi
  done
}

PGBIN=$(find_pgbin)
if [ -z "$PGBIN" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "PostgreSQL 15 server programs are missing (apt-get install postgresql-15)" >&2; exit 1; fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  PGBIN=$(find_pgbin)
fi

AS=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  AS=(runuser -u postgres --)
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DIR=$(mktemp -d -t pim-pgtest.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
chmod 700 "$DIR"

stop_server() {
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop_server EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
  >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $PORT -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
  start >/dev/null || { cat "$DIR/server.log" >&2; exit 1; }

echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT (data in $DIR)"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
export PIM_REQUIRE_POSTGRES=1
status=0
"$@" || status=$?
exit $status
