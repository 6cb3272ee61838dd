#!/usr/bin/env bash
# Server-only interleaved A/B: two release builds (directories holding LedgerServer; the load generator
# comes from LOAD, default the new directory), each on a fresh data directory per round, old then new,
# driven by LedgerLoad with each configuration in CONFIGS (one per line), SECS seconds each, ROUNDS rounds.
#   Benchmarks/ab-server-only.sh /tmp/relbin-old /tmp/relbin-new > Benchmarks/raw-DATE-ab-WHAT.txt
# Env: ROUNDS (2), SECS (5), SERVER_FLAGS (extra LedgerServer flags), CONFIGS.
set -euo pipefail
OLD=${1:?old build directory}
NEW=${2:?new build directory}
LOAD=${LOAD:-$NEW/LedgerLoad}
ROUNDS=${ROUNDS:-2}
SECS=${SECS:-5}
SERVER_FLAGS=${SERVER_FLAGS:-}
CONFIGS=${CONFIGS:-"--connections 1 --batch 8189
--connections 4 --batch 8189
--connections 64 --batch 1 --raw"}
W=$(mktemp -d /tmp/abw.XXXX)
trap 'rm -rf "$W"' EXIT
for round in $(seq "$ROUNDS"); do
  for build in old new; do
    bin=$OLD; [ $build = new ] && bin=$NEW
    rm -rf "$W/data"
    "$bin/LedgerServer" --data-dir "$W/data" --port 7395 --create-dev-key --metrics-port 0 --max-connections 2000 \
      $SERVER_FLAGS >"$W/out" 2>"$W/log" &
    pid=$!
    for _ in $(seq 100); do grep -q listening "$W/out" 2>/dev/null && break; sleep 0.1; done
    secret=$(grep -o 'secret [0-9a-f]*' "$W/out" | cut -d' ' -f2)
    while IFS= read -r args; do
      # shellcheck disable=SC2086
      "$LOAD" --port 7395 --secret "$secret" --seconds "$SECS" $args --label "round $round $build $args"
    done <<<"$CONFIGS"
    kill "$pid"; wait "$pid" || true
  done
done
