#!/usr/bin/env bash
# Interleaved A/B/C… of server builds, one fresh server per run, printing each run's server CPU per entry
# (utime+stime from /proc over the load, divided by the entries): BUILDS="dir1 dir2 …" (each holding
# LedgerServer; LedgerLoad from the last), ROUNDS, SECS, CONFIGS (one LedgerLoad argument line each), SERVER_FLAGS.
#   BUILDS="/tmp/relbin-old /tmp/relbin-new" Benchmarks/ab-cpu-per-entry.sh > Benchmarks/raw-DATE-ab-WHAT.txt
set -euo pipefail
ROUNDS=${ROUNDS:-2}; SECS=${SECS:-10}; SERVER_FLAGS=${SERVER_FLAGS:-}
CONFIGS=${CONFIGS:-"--connections 1 --batch 8189"}
last=${BUILDS##* }; LOAD=${LOAD:-$last/LedgerLoad}
W=$(mktemp -d /tmp/abw.XXXX); trap 'rm -rf "$W"' EXIT
TCK=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
  while IFS= read -r args; do
  for bin in $BUILDS; do
    rm -rf "$W/data"
    "$bin/LedgerServer" --data-dir "$W/data" --port 7395 --create-dev-key --metrics-port 0 --max-connections 2000 $SERVER_FLAGS >"$W/out" 2>"$W/log" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$W/out" 2>/dev/null && break; sleep 0.1; done
    secret=$(grep -o 'secret [0-9a-f]*' "$W/out" | cut -d' ' -f2)
    c0=$(awk '{print $14+$15}' /proc/$pid/stat)
    line=$("$LOAD" --port 7395 --secret "$secret" --seconds "$SECS" $args --label "round $round $(basename $bin) $args" | grep -v '^$')
    c1=$(awk '{print $14+$15}' /proc/$pid/stat)
    rate=$(echo "$line" | grep -o 'entries/s [0-9]*' | cut -d' ' -f2)
    echo "$line server-cpu-s $(( (c1-c0) / TCK )).$(( (c1-c0) % TCK )) us-per-entry $(python3 -c "print(round(($c1-$c0)/$TCK/($rate*$SECS)*1e6,2))")"
    kill "$pid"; wait "$pid" || true
  done
  done <<<"$CONFIGS"
done
