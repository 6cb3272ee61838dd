#!/usr/bin/env bash
# Replication at scale, same machine (primary and standby share its cores):
# how fast a base backup copies a large directory (MB/s of image, without and
# with the final verify), and how fast a standby that fell far behind catches
# up (entries/s applied).
#
# Usage: Benchmarks/replication-bulk.sh [BIN_DIR] [million entries first] [million entries behind]
#   e.g. Benchmarks/replication-bulk.sh /tmp/relbin 50 10
set -euo pipefail
BIN=${1:-.build/release}
TOTAL_M=${2:-50}
BEHIND_M=${3:-10}
WORK=$(mktemp -d /tmp/ledger-bulk-XXXX)
# shellcheck source=scripts/replication-pair.sh
source "$(dirname "$0")/../scripts/replication-pair.sh"
trap 'pair_stop; rm -rf "$WORK"' EXIT
pair_keys

ms() { echo $(( $(date +%s%N) / 1000000 )); }

fill() {  # million entries: LedgerLoad runs of 20 s until at least that many were acknowledged
  local want=$(( $1 * 1000000 )) posted=0 out requests
  while [ "$posted" -lt "$want" ]; do
    out=$("$BIN/LedgerLoad" --port "$PRIMARY_PORT" --secret "$CLIENT_SECRET" --connections 4 --batch 8189 --seconds 20 --label fill)
    requests=$(echo "$out" | sed -n 's/.* requests \([0-9]*\) .*/\1/p')
    posted=$(( posted + requests * 8189 ))  # the 1 s warm-up is not counted: at least this many
  done
  echo "$posted"
}

wait_caught_up() {  # prints ms taken
  local target start
  target=$(pair_lsn "$PRIMARY_PORT")
  start=$(ms)
  while [ "$(pair_lsn "$STANDBY_PORT")" -lt "$target" ]; do sleep 0.2; done
  echo $(( $(ms) - start ))
}

start_standby() {
  "$BIN/LedgerServer" --data-dir "$WORK/standby" --keys-file "$WORK/api-keys" --port "$STANDBY_PORT" --metrics-port 0 \
    --standby-of "127.0.0.1:$PRIMARY_PORT" --replication-key-file "$WORK/repl.key" >"$WORK/standby.out" 2>>"$WORK/standby.log" &
  STANDBY_PID=$!
  PAIR_PIDS+=("$STANDBY_PID")
  pair_wait_listening "$WORK/standby.out"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; bin=$BIN total=${TOTAL_M}M behind=${BEHIND_M}M"
# The slot must keep the WAL the stopped standby needs (about 110 bytes per entry).
pair_start_primary --max-slot-wal-keep-mib 65536
posted=$(fill "$TOTAL_M")
echo "primary: at least $posted entries, $(du -sb "$WORK/primary" | cut -f1) bytes on disk"

start=$(ms)
"$BIN/ledgerctl" basebackup --server "127.0.0.1:$PRIMARY_PORT" --key-id repl --secret "$REPLICATION_SECRET" --to "$WORK/standby" \
  >"$WORK/basebackup.out" 2>/dev/null &
backup_pid=$!
while [ ! -d "$WORK/standby" ]; do sleep 0.05; done  # renamed from .partial: the image is complete
copied=$(( $(ms) - start ))
wait "$backup_pid"
total=$(( $(ms) - start ))
bytes=$(sed -n 's/.*: \([0-9]*\) bytes, verified.*/\1/p' "$WORK/basebackup.out")
echo "base backup: $bytes bytes copied in $copied ms ($(( bytes / 1000 / copied )) MB/s), with the final verify $total ms ($(( bytes / 1000 / total )) MB/s)"

start_standby
echo "standby started; caught up with the primary in $(wait_caught_up) ms"
kill "$STANDBY_PID"; wait "$STANDBY_PID" || true
behind=$(fill "$BEHIND_M")
start=$(ms)
start_standby
wait_caught_up >/dev/null
taken=$(( $(ms) - start ))
echo "standby behind by at least $behind entries: started and caught up in $taken ms ($(( behind * 1000 / taken )) entries/s, including its start)"
pair_stop
