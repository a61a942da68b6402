#!/usr/bin/env bash
# Issue 5's benchmark in one command: builds the load generator (release, in bench/target, or
# in $CARGO_TARGET_DIR/confab-bench when CARGO_TARGET_DIR is set), then `confab-bench run`
# builds Confab (release, --features ssr; skipped with --confab-bin PATH), sets up the seed's
# venv (bench/.venv, once) and runs the suite against Confab, the seed and the bare relay, one
# at a time, and against two Confab nodes on PostgreSQL + Redis (`scripts/postgres.sh`,
# `scripts/redis.sh`; skipped with the reason if they are not available, off with
# --no-cluster), on loopback. Prints a table; writes bench/results/<UTC>.json.
#
#   bench/run.sh            the standard suite (a few minutes)
#   bench/run.sh --smoke    tiny sizes for CI (well under a minute once built)
#
# Any other arguments go to `confab-bench run` (see `bench/run.sh --help`), e.g.
# `--confab-bin PATH`, `--scenarios throughput,latency`, `--confab-env CONFAB_OUTBOUND_QUEUE=4096`.
# Exits non-zero only when a scenario could not run (goals not met are results).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  target_dir="$CARGO_TARGET_DIR/confab-bench"
else
  target_dir="$here/target"
fi
cargo build --release --manifest-path "$here/Cargo.toml" --target-dir "$target_dir"
# The repository is named at run time: a binary shared between clones (one CARGO_TARGET_DIR)
# must not measure the clone it happened to be built from.
exec "$target_dir/release/confab-bench" run --repo "$(dirname "$here")" "$@"
