#!/usr/bin/env bash
# Runs the issue-4 load matrix against a fresh release LedgerServer and
# prints one line per run (Benchmarks/RESULTS.md, "Over TCP").
# Usage: Benchmarks/load-matrix.sh [runs per configuration] [seconds per run]
set -euo pipefail
RUNS=${1:-3}
SECONDS_PER_RUN=${2:-5}
swift build -c release --product LedgerServer --product LedgerLoad >/dev/null 2>&1 || swift build -c release >/dev/null
BIN=$(swift build -c release --show-bin-path)
DIR=$(mktemp -d /tmp/ledger-load-XXXX)
PORT=7391
"$BIN/LedgerServer" --data-dir "$DIR/data" --port $PORT --create-dev-key --max-connections 20000 >"$DIR/out.txt" 2>"$DIR/err.txt" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do grep -q listening "$DIR/out.txt" 2>/dev/null && break; sleep 0.1; done
SECRET=$(grep -o 'secret [0-9a-f]*' "$DIR/out.txt" | cut -d' ' -f2)
load() { "$BIN/LedgerLoad" --port $PORT --secret "$SECRET" --seconds "$SECONDS_PER_RUN" "$@"; }
for run in $(seq "$RUNS"); do
  load --connections 1 --batch 8189 --label "run $run: B=8189 c=1"
  load --connections 1 --batch 8189 --in-flight 2 --label "run $run: B=8189 c=1 if=2"
  load --connections 4 --batch 8189 --label "run $run: B=8189 c=4"
  load --connections 64 --batch 1 --label "run $run: B=1 c=64 uniform"
  load --connections 64 --batch 1 --hot 10 --label "run $run: B=1 c=64 hot10"
  load --connections 64 --batch 1 --in-flight 4 --label "run $run: B=1 c=64 if=4"
  load --connections 256 --batch 1 --rate 10000 --label "run $run: open 10k/s c=256"
done
ulimit -n 20000 2>/dev/null || true
load --hold-connections 10000 --server-pid $SERVER --label "10k connections"
