#!/usr/bin/env bash
# Installs whatever Confab's build and tests need and is missing; does nothing that is already
# done, so it is safe to run every time. Debian (root or sudo), Rust via rustup.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages: a C toolchain (for SQLite and ring), Node.js for Playwright, Chromium,
# PostgreSQL.
missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v chromium >/dev/null || missing+=(chromium)
# PostgreSQL server binaries for the PostgreSQL test pass (Debian keeps them out of PATH).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing+=(postgresql)
# redis-server: the multi-node tests start private Redis servers (and stop them on purpose).
command -v redis-server >/dev/null || missing+=(redis-server)
# The benchmark runs the seed tutorial's server from a Python venv (packages from PyPI).
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos 0.3.6 is the newest that builds with this rustc; no_downloads because it
# cannot fetch its helpers here: they are installed below.
if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "0.3.6" ]; then
  say "installing cargo-leptos 0.3.6 (takes ~12 minutes on 2 cores)"
  cargo install cargo-leptos --version 0.3.6 --locked --features no_downloads
fi

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly. Not --locked: its own
# lock names a crate version the registry no longer has.
wb_version=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  say "installing wasm-bindgen-cli $wb_version"
  cargo install wasm-bindgen-cli --version "$wb_version"
fi

# wasm-opt shrinks the release WASM bundle (cargo leptos build --release).
if ! command -v wasm-opt >/dev/null; then
  say "installing wasm-opt (binaryen from npm)"
  $SUDO npm install -g binaryen@132 --no-audit --no-fund --loglevel=error
fi

# Playwright's test runner; it drives Debian's chromium (no browser download).
if [ ! -d end2end/node_modules/@playwright/test ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing end-to-end test packages"
  (cd end2end && npm ci --no-audit --no-fund --loglevel=error)
fi

say "toolchain ready"
