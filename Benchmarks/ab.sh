#!/usr/bin/env bash
# Interleaved A/B of two release builds on this machine: old, new, old, new…
# Each round runs, per build: `LedgerBench all` (in process: batch 8,189 on
# 10,000 and on 10 accounts, 64 threads and 64 tasks at batch 1), then a
# fresh LedgerServer of that build driven over TCP by the *new* build's
# LedgerLoad (one generator for both, so only the server differs) at batch
# 8,189 with 1 and 4 connections and at batch 1 with 64 connections.
#
# Usage: Benchmarks/ab.sh OLD_BIN_DIR NEW_BIN_DIR [rounds] [seconds per run]
#   e.g. Benchmarks/ab.sh /work/baseline/.build/release .build/release 3 5
# Prints one line per measurement, prefixed with the round and the build.
set -euo pipefail
OLD=$1
NEW=$2
ROUNDS=${3:-3}
SECS=${4:-5}
WORK=$(mktemp -d /tmp/ledger-ab-XXXX)
PORT=7393
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

in_process() {  # bin, label
  rm -rf "$WORK/bench"
  "$1/LedgerBench" all --runs 1 --seconds "$SECS" --dir "$WORK/bench" | grep ' run 1:' | sed "s/^/$2 /"
}

over_tcp() {  # bin, label
  rm -rf "$WORK/data"
  "$1/LedgerServer" --data-dir "$WORK/data" --port $PORT --create-dev-key --max-connections 2000 >"$WORK/out.txt" 2>"$WORK/err.txt" &
  SERVER=$!
  for _ in $(seq 200); do grep -q listening "$WORK/out.txt" 2>/dev/null && break; sleep 0.1; done
  local secret
  secret=$(grep -o 'secret [0-9a-f]*' "$WORK/out.txt" | cut -d' ' -f2)
  for args in "--connections 1 --batch 8189" "--connections 4 --batch 8189" "--connections 64 --batch 1"; do
    # shellcheck disable=SC2086
    "$NEW/LedgerLoad" --port $PORT --secret "$secret" --seconds "$SECS" $args --label "$2 tcp $args"
  done
  kill "$SERVER"
  wait "$SERVER" 2>/dev/null || true
  SERVER=""
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; old=$OLD new=$NEW rounds=$ROUNDS seconds=$SECS"
for round in $(seq "$ROUNDS"); do
  for side in old new; do
    bin=$OLD
    [ $side = new ] && bin=$NEW
    in_process "$bin" "round $round $side"
    over_tcp "$bin" "round $round $side"
  done
done
