#!/usr/bin/env bash
# A Redis server for Confab's bus on loopback, from Debian's package: installs it if missing,
# starts it in its own data folder on 127.0.0.1:${CONFAB_REDIS_PORT:-56379} unless it already
# runs, waits until it answers, and prints its URL on stdout (everything else goes to stderr).
# Safe to run again and again.
#   scripts/redis.sh         start (or find running) and print the URL
#   scripts/redis.sh stop    stop it
# The multi-node tests start their own private redis-server processes (they stop and restart
# Redis on purpose); this one is for running nodes by hand (README, benchmark).
set -euo pipefail

port="${CONFAB_REDIS_PORT:-56379}"
dir="${CONFAB_REDIS_DIR:-/var/tmp/confab/redis}"
url="redis://127.0.0.1:${port}/"
say() { printf '\033[1;34m[redis]\033[0m %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  say "installing redis-server (Debian package)"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >&2
fi

answers() { redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; }

if [ "${1:-start}" = "stop" ]; then
  if answers; then
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    say "stopped redis on port $port"
  fi
  exit 0
fi

if ! answers; then
  mkdir -p "$dir"
  say "starting redis on 127.0.0.1:$port (data in $dir)"
  # Pub/sub only: nothing to persist.
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >&2
  for _ in $(seq 1 100); do
    answers && break
    sleep 0.1
  done
  answers || { say "redis did not start; see $dir/redis.log"; exit 1; }
fi
echo "$url"
