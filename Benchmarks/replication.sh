#!/usr/bin/env bash
# Replication cost, same run, same machine (both servers share its cores):
# LedgerLoad against a primary alone, with an asynchronous standby, and with
# a synchronous one (--synchronous-standbys 1), interleaved per round; after
# each load, how far the standby was behind and how long it took to catch up.
#
# Usage: Benchmarks/replication.sh [BIN_DIR] [rounds] [seconds per run]
#   e.g. Benchmarks/replication.sh .build/release 2 5
set -euo pipefail
BIN=${1:-.build/release}
ROUNDS=${2:-2}
SECS=${3:-5}
WORK=$(mktemp -d /tmp/ledger-replication-bench-XXXX)
# shellcheck source=scripts/replication-pair.sh
source "$(dirname "$0")/../scripts/replication-pair.sh"
trap 'pair_stop; rm -rf "$WORK"' EXIT
pair_keys

run() {  # mode: alone | async | sync
  rm -rf "$WORK/primary" "$WORK/standby"
  local sync=0
  [ "$1" = sync ] && sync=1
  pair_start_primary --synchronous-standbys "$sync"
  # The standby comes from a base backup, so the primary must be up first;
  # with sync=1 nothing commits until it is (accounts are created by the load).
  [ "$1" != alone ] && pair_start_standby
  for args in "--connections 4 --batch 8189" "--connections 64 --batch 1"; do
    # shellcheck disable=SC2086
    "$BIN/LedgerLoad" --port "$PRIMARY_PORT" --secret "$CLIENT_SECRET" --seconds "$SECS" $args --label "round $round $1 $args"
    if [ "$1" != alone ]; then
      local primary standby start
      primary=$(pair_lsn "$PRIMARY_PORT")
      standby=$(pair_lsn "$STANDBY_PORT")
      start=$(date +%s%N)
      while [ "$(pair_lsn "$STANDBY_PORT")" -lt "$primary" ]; do sleep 0.05; done
      echo "round $round $1 $args: standby behind by $((primary - standby)) records at the end; caught up in $(( ($(date +%s%N) - start) / 1000000 )) ms"
    fi
  done
  pair_stop
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores; bin=$BIN rounds=$ROUNDS seconds=$SECS"
for round in $(seq "$ROUNDS"); do
  for mode in alone async sync; do run "$mode"; done
done
