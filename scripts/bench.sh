#!/usr/bin/env bash
# Runs the dswfs benchmark against the local DSW API server and prints a table (asserts nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/bench.py "$@"
