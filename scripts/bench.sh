#!/usr/bin/env bash
# Benchmarks: builds the release binaries, makes sure Postgres, moto, the aws CLI and wrk
# are there, runs every case (or those named) against them with its baseline, and writes
# docs/benchmarks.md. `scripts/bench.sh --quick` runs small sizes to check the harness.
# Takes about 10 minutes in full on 2 cores; needs ~3 GB free under /tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh s3
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
cargo build --release --bins
exec python3 bench/run.py "$@"
