#!/usr/bin/env bash
# Every check and test: formatting, clippy for the server and the browser builds, unit and
# integration tests (real servers on random ports with temporary databases: SQLite, then the
# integration tests once more on a local PostgreSQL started by scripts/postgres.sh), then the
# Playwright suite in Debian's chromium against the built app.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
start=$(date +%s)

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (server)"
cargo clippy --features ssr --all-targets -- -D warnings

step "clippy (browser)"
# target/front is where cargo-leptos builds the wasm, so this shares its dependencies.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/front" \
  cargo clippy --lib --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings

step "unit and integration tests (SQLite)"
cargo test --features ssr

step "integration tests again on PostgreSQL, and the multi-node tests (PostgreSQL + Redis)"
# A local cluster (scripts/postgres.sh); each test creates and drops a database of its own,
# and databases an earlier, interrupted run left behind are dropped first. The multi-node
# tests (tests/cluster_*.rs) run only here, each with private redis-server processes; they
# must not be skipped.
pg_url=$(./scripts/postgres.sh)
./scripts/postgres.sh drop-test-databases
CONFAB_TEST_POSTGRES_URL="$pg_url" CONFAB_REQUIRE_CLUSTER_TESTS=1 cargo test --features ssr --test '*'

step "build the site (cargo leptos build)"
cargo leptos build

step "end-to-end tests (Playwright, chromium)"
target_dir=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
(cd end2end && CONFAB_E2E_BIN="$target_dir/debug/confab" npx playwright test)

step "benchmark unit tests"
cargo test --release --manifest-path bench/Cargo.toml --target-dir "$target_dir/confab-bench"

step "benchmark smoke run (tiny sizes; the benchmark is not a test, this keeps it from rotting)"
# Against the debug binary just built (no release build here); goals are not checked, only
# that every scenario runs. The full suite is `bench/run.sh` (see the README).
CARGO_TARGET_DIR="$target_dir" bench/run.sh --smoke --confab-bin "$target_dir/debug/confab"

echo
echo "all checks passed in $(( $(date +%s) - start )) s"
