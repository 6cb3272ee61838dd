#!/usr/bin/env bash
# Server-only interleaved A/B used on 2026-12-02: two release LedgerServer builds (old /tmp/relbin, new
# /tmp/relbin14), each on a fresh directory, driven by the new LedgerLoad at 1 and 4 connections x batch 8,189
# and 64 connections x batch 1, 5 s each, 2 rounds. Edit the two paths to reuse.
set -euo pipefail
W=/tmp/abw
for round in 1 2; do
  for build in old new; do
    bin=/tmp/relbin; [ $build = new ] && bin=/tmp/relbin14
    rm -rf $W/data; 
    $bin/LedgerServer --data-dir $W/data --port 7395 --create-dev-key --metrics-port 0 --max-connections 2000 > $W/out 2>$W/log &
    pid=$!
    for _ in $(seq 100); do grep -q listening $W/out 2>/dev/null && break; sleep 0.1; done
    secret=$(grep -o 'secret [0-9a-f]*' $W/out | cut -d' ' -f2)
    for args in "--connections 1 --batch 8189" "--connections 4 --batch 8189" "--connections 64 --batch 1"; do
      /tmp/relbin14/LedgerLoad --port 7395 --secret $secret --seconds 5 $args --label "round $round $build $args"
    done
    kill $pid; wait $pid || true
  done
done
