#!/usr/bin/env bash
# The configurations ../shared/peers/side-by-side.sh leaves out of issue 13's targets: batch 8,189 at
# 4 connections (TigerBeetle: 4 clients), uniform and 10 hot accounts, interleaved per repetition, plus
# ours with one synchronous standby on the same machine. Run from the project root:
#   LEDGER_BIN=/tmp/relbin REPS=3 Benchmarks/side-by-side-c4.sh > Benchmarks/raw-DATE-side-by-side-c4.txt
set -euo pipefail
LEDGER_BIN=$(readlink -f "${LEDGER_BIN:-.build/release}")
TIGERBEETLE=${TIGERBEETLE:-$(readlink -f ../shared/peers/tigerbeetle)}
REPS=${REPS:-3}
SECS=${SECS:-8}
ours() { # label args...
  local label=$1; shift
  local d; d=$(mktemp -d /tmp/sbs4.XXXX)
  "$LEDGER_BIN/LedgerServer" --data-dir "$d/data" --port 7395 --metrics-port 0 --create-dev-key >"$d/out" 2>"$d/err" &
  local pid=$!
  for _ in $(seq 200); do grep -q listening "$d/out" 2>/dev/null && break; sleep 0.05; done
  local secret; secret=$(grep -o 'secret [0-9a-f]*' "$d/out" | cut -d' ' -f2)
  timeout 120 "$LEDGER_BIN/LedgerLoad" --port 7395 --secret "$secret" --seconds "$SECS" --label "ours $label" "$@" || true
  kill -TERM $pid; wait $pid 2>/dev/null || true; rm -rf "$d"
}
tb() { # label args...
  local label=$1; shift
  local d; d=$(mktemp -d /tmp/sbs4-tb.XXXX)
  echo "== tigerbeetle $label"
  (cd "$d" && timeout 300 "$TIGERBEETLE" benchmark "$@" 2>&1 | grep -E 'load accepted|batch latency p(50|99) ') || true
  rm -rf "$d"
}
for rep in $(seq "$REPS"); do
  echo "#### rep $rep"
  ours "B=8189 c=4" --connections 4 --batch 8189
  tb "B=8189 c=4" --clients=4 --transfer-count=3000000 --query-count=0
  ours "B=8189 c=4 hot10" --connections 4 --batch 8189 --hot 10
  tb "B=8189 c=4 hot10" --clients=4 --account-count=10 --transfer-count=3000000 --query-count=0
done
