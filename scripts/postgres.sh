#!/usr/bin/env bash
# A local PostgreSQL for Confab's PostgreSQL store and its tests: installs Debian's package if
# no server binaries are found, initialises its own cluster in $CONFAB_PG_DIR (default
# /var/tmp/confab/pg) and starts it on 127.0.0.1:$CONFAB_PG_PORT (default 55432). Every step is
# skipped when already done, so it is safe to run any number of times.
#
#   scripts/postgres.sh                       start (if needed); prints the database URL on stdout
#   scripts/postgres.sh stop                  stops the cluster
#   scripts/postgres.sh drop-test-databases   drops the confab_t_* databases tests left behind
#
# Logs go to stderr, so `DATABASE_URL=$(scripts/postgres.sh)` works.
#
# This is a throw-away cluster for development and tests: it listens on loopback only and
# trusts every local connection (no passwords). Do not use it as a production set-up.
set -euo pipefail

PORT="${CONFAB_PG_PORT:-55432}"
DATA="${CONFAB_PG_DIR:-/var/tmp/confab/pg}"
LOG="$(dirname "$DATA")/postgres.log"
URL="postgres://confab@127.0.0.1:${PORT}/confab"

say() { printf '\033[1;34m[postgres]\033[0m %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# The newest installed server's binaries (Debian keeps them out of PATH).
find_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  return 1
}

BIN="$(find_bindir || true)"
if [ -z "$BIN" ]; then
  say "installing Debian's postgresql package"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
  BIN="$(find_bindir)"
fi

# The server refuses to run as root: everything that touches the cluster runs as `postgres`
# (created by the Debian package) when we are root, and as ourselves otherwise.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

pg_ctl_() { as_pg "$BIN/pg_ctl" -D "$DATA" "$@"; }
psql_() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }

running() { pg_ctl_ status >/dev/null 2>&1; }

case "${1:-start}" in
  stop)
    if [ -f "$DATA/PG_VERSION" ] && running; then
      say "stopping"
      pg_ctl_ stop -m fast -w >&2
    else
      say "not running"
    fi
    exit 0
    ;;
  drop-test-databases)
    if ! running; then exit 0; fi
    for db in $(psql_ -d postgres -At -c "SELECT datname FROM pg_database WHERE datname LIKE 'confab\_t\_%'"); do
      psql_ -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >&2
    done
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 [start|stop|drop-test-databases]" >&2
    exit 2
    ;;
esac

if [ ! -f "$DATA/PG_VERSION" ]; then
  say "initialising a cluster in $DATA"
  mkdir -p "$DATA"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$(dirname "$DATA")"; fi
  chmod 700 "$DATA"
  # C collation: text sorts byte-wise, as in SQLite. Trust on loopback only (see above).
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
fi

if ! running; then
  say "starting on 127.0.0.1:$PORT"
  # fsync stays on (the default): the crash test relies on committed meaning durable.
  # Tests start many servers, each with its own pool: room for plenty of connections. Nodes
  # that create conversations at the same moment can still deadlock (and retry): detect it in
  # 100 ms instead of the default second.
  pg_ctl_ start -w -t 60 -l "$LOG" \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories='' \
        -c max_connections=300 -c shared_buffers=128MB -c fsync=on -c deadlock_timeout=100ms" >&2
fi

for _ in $(seq 1 60); do
  if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then break; fi
  sleep 0.5
done
"$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || { say "the server does not accept connections; see $LOG"; exit 1; }

if [ "$(psql_ -d postgres -At -c "SELECT 1 FROM pg_roles WHERE rolname = 'confab'")" != 1 ]; then
  say "creating role confab"
  # Superuser: tests create and drop a database each.
  psql_ -d postgres -c "CREATE ROLE confab LOGIN SUPERUSER"
fi
if [ "$(psql_ -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = 'confab'")" != 1 ]; then
  say "creating database confab"
  psql_ -d postgres -c "CREATE DATABASE confab OWNER confab"
fi

echo "$URL"
