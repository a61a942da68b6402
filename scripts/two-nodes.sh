#!/usr/bin/env bash
# Two Confab nodes on one machine, as a cluster would run them: a local PostgreSQL and Redis
# (started by scripts/postgres.sh and scripts/redis.sh, from Debian's packages), then node 1 on
# http://127.0.0.1:3001 and node 2 on http://127.0.0.1:3002. Sign in on one, chat with someone
# signed in on the other. Ctrl-C stops both nodes (PostgreSQL and Redis keep running; stop them
# with `scripts/postgres.sh stop` and `scripts/redis.sh stop`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo leptos build
DATABASE_URL="$(./scripts/postgres.sh)"
REDIS_URL="$(./scripts/redis.sh)"
export DATABASE_URL REDIS_URL
bin="${CARGO_TARGET_DIR:-target}/debug/confab"
# cargo-leptos writes the site next to the sources, whatever CARGO_TARGET_DIR says.
export LEPTOS_SITE_ROOT=target/site
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for n in 1 2; do
  LEPTOS_SITE_ADDR="127.0.0.1:300$n" CONFAB_NODE_ID="node$n" "$bin" serve &
  pids+=($!)
done
echo "node 1: http://127.0.0.1:3001   node 2: http://127.0.0.1:3002   (Ctrl-C stops them)"
wait
