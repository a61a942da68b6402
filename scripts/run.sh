#!/usr/bin/env bash
# Installs what is missing, then builds and serves Confab on http://127.0.0.1:3000 with SQLite
# in ./data (created on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export DATABASE_URL="${DATABASE_URL:-sqlite://data/confab.db}"
export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
exec cargo leptos serve
