#!/bin/bash
# Interleaved restarts: arguments are LABEL=BIN:DIR; each round, for each
# side: page cache dropped, open (cold), open again (warm).
ROUNDS=${ROUNDS:-3}
for r in $(seq 1 $ROUNDS); do
  for spec in "$@"; do
    label=${spec%%=*}; rest=${spec#*=}; BIN=${rest%%:*}; DIR=${rest#*:}
    sync; echo 3 > /proc/sys/vm/drop_caches
    # The open time and RSS line, and the memory report's total.
    for cache in cold warm; do
      echo "round $r $label $cache: $($BIN open-rss --dir $DIR 2>&1 | grep -E '^open:|counted' | tr '\n' ' ')"
    done
  done
done
