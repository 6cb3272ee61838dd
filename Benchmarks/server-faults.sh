#!/usr/bin/env bash
# Where a running LedgerServer takes page faults under load: starts a server on a
# fresh data directory, drives it with LedgerLoad (LOADARGS, default 1 × 8,189) for
# 14 s and records every page fault with its call stack for 8 s in the middle.
#   B=/tmp/relbin Benchmarks/server-faults.sh; perf report -i /tmp/perf-faults.data --no-children --sort sym
set -euo pipefail
B=${B:?a directory with release LedgerServer and LedgerLoad}
W=$(mktemp -d /tmp/pf.XXXX)
trap 'rm -rf "$W"' EXIT
"$B/LedgerServer" --data-dir "$W/data" --port 7398 --create-dev-key --metrics-port 0 >"$W/out" 2>"$W/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$W/out" 2>/dev/null && break; sleep 0.1; done
secret=$(grep -o 'secret [0-9a-f]*' "$W/out" | cut -d' ' -f2)
# shellcheck disable=SC2086
"$B/LedgerLoad" --port 7398 --secret "$secret" --seconds 14 ${LOADARGS:---connections 1 --batch 8189} --label faults &
lpid=$!
sleep 5
perf record -e page-faults -c 1 -g -p "$pid" -o /tmp/perf-faults.data -- sleep 8 >/dev/null 2>&1
wait "$lpid"
kill "$pid"; wait "$pid" || true
