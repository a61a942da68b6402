#!/usr/bin/env bash
# Issue 5's benchmark in one command: builds the load generator (release, bench/target), then
# `confab-bench run` builds Confab (release, --features ssr), sets up the seed's venv
# (bench/.venv) and runs the suite against Confab, the seed and the bare relay, one at a time,
# on loopback. Prints a table; writes bench/results/<UTC>.json.
#
#   bench/run.sh            the standard suite (a few minutes)
#   bench/run.sh --smoke    tiny sizes for CI (well under a minute once built)
#
# Any other arguments go to `confab-bench run` (see `bench/run.sh --help`), e.g.
# `--confab-bin PATH`, `--scenarios throughput,latency`, `--confab-env CONFAB_OUTBOUND_QUEUE=4096`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cargo build --release --manifest-path "$here/Cargo.toml" --target-dir "$here/target"
exec "$here/target/release/confab-bench" run "$@"
