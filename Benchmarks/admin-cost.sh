#!/usr/bin/env bash
# What operator jobs cost the commit path (issue 14): LedgerLoad against one
# server, alone, during an online verify (`ledgerctl verify --server`) and
# during an archival of every sealed month (`ledgerctl archive --server`),
# at 4 connections × batch 8,189 and at 64 connections × batch 1. The months
# are written first by `ledgerctl stress` with a warped clock, so there is
# history to verify and archive. Everything shares this machine's cores.
#
# Usage: Benchmarks/admin-cost.sh [BIN_DIR] [seconds per run] [stress seconds]
#   e.g. Benchmarks/admin-cost.sh /tmp/relbin 8 12
set -euo pipefail
BIN=${1:-.build/release}
SECS=${2:-8}
STRESS_SECS=${3:-12}
WORK=$(mktemp -d /tmp/ledger-admin-bench-XXXX)
# shellcheck source=scripts/replication-pair.sh
source "$(dirname "$0")/../scripts/replication-pair.sh"
trap 'pair_stop; rm -rf "$WORK"' EXIT
pair_keys
ADMIN_SECRET=$("$BIN/ledgerctl" key create --role admin --id ops --keys-file "$WORK/api-keys" | grep -o '[0-9a-f]\{64\}' | head -1)
ADMIN=(--server "127.0.0.1:$PRIMARY_PORT" --key-id ops --secret "$ADMIN_SECRET")

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; bin=$BIN seconds=$SECS"
# History: ~9 months of engine time in $STRESS_SECS s of wall time.
"$BIN/ledgerctl" init --data-dir "$WORK/primary" >/dev/null
start=$(python3 -c 'import calendar; print(calendar.timegm((2026,1,2,0,0,0)) * 10**9)')
"$BIN/ledgerctl" stress --data-dir "$WORK/primary" --accounts 10000 --batch-size 512 --threads 2 \
  --clock-start-ns "$start" --clock-anchor-ns "$(date +%s%N)" --clock-warp 2000000 >/dev/null &
stress=$!
sleep "$STRESS_SECS"
kill -TERM "$stress" 2>/dev/null || true
wait "$stress" 2>/dev/null || true
pair_start_primary
echo "history: $(du -sh "$WORK/primary" | cut -f1) on disk"
"$BIN/ledgerctl" months "${ADMIN[@]}"

job() {  # ledgerctl arguments: runs the job, prints how long it took
  local t0
  t0=$(date +%s%N)
  "$BIN/ledgerctl" "$@" "${ADMIN[@]}" >"$WORK/job.out" 2>/dev/null || true
  local summary
  summary=$(tail -1 "$WORK/job.out" | python3 -c '
import json, sys
job = json.load(sys.stdin); r = job.get("result", {})
parts = ["state " + job["state"]]
if "passed" in r: parts.append("passed %s, %d problems, %d WAL records, through LSN %d" % (r["passed"], len(r["problems"]), r["walRecords"], r["lsn"]))
if "archived" in r: parts.append("%d months, %d -> %d bytes" % (len(r["archived"]), sum(m["segmentBytes"] for m in r["archived"]), sum(m["archiveBytes"] for m in r["archived"])))
print("; ".join(parts))' 2>/dev/null || cut -c1-160 "$WORK/job.out")
  echo "  job '$1' took $(( ($(date +%s%N) - t0) / 1000000 )) ms: $summary"
}

for args in "--connections 4 --batch 8189" "--connections 64 --batch 1"; do
  # shellcheck disable=SC2086
  "$BIN/LedgerLoad" --port "$PRIMARY_PORT" --secret "$CLIENT_SECRET" --seconds "$SECS" $args --label "alone $args"
  job verify &
  running=$!
  # shellcheck disable=SC2086
  "$BIN/LedgerLoad" --port "$PRIMARY_PORT" --secret "$CLIENT_SECRET" --seconds "$SECS" $args --label "during online verify $args"
  wait "$running"  # not a bare `wait`: the server is a background job too
  job archive --before 2026-12 &
  running=$!
  # shellcheck disable=SC2086
  "$BIN/LedgerLoad" --port "$PRIMARY_PORT" --secret "$CLIENT_SECRET" --seconds "$SECS" $args --label "during archival $args"
  wait "$running"
  # Put the months back for the next load shape (not measured).
  for month in $("$BIN/ledgerctl" months "${ADMIN[@]}" | python3 -c 'import json,sys; print(" ".join(m["month"] for m in json.load(sys.stdin)["months"] if m["state"] == "archived"))'); do
    "$BIN/ledgerctl" restore --month "$month" "${ADMIN[@]}" >/dev/null 2>&1
  done
  # shellcheck disable=SC2086
  "$BIN/LedgerLoad" --port "$PRIMARY_PORT" --secret "$CLIENT_SECRET" --seconds "$SECS" $args --label "alone again $args"
done
