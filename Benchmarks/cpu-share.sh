#!/bin/bash
# CPU seconds of server and generator during one B=1 x 64 run (10 s).
B=${1:?release build directory}; W=$(mktemp -d /tmp/cpushare.XXXX)
rm -rf $W/data
$B/LedgerServer --data-dir $W/data --port 7396 --create-dev-key --metrics-port 0 --max-connections 2000 > $W/out 2> $W/log &
pid=$!
for _ in $(seq 100); do grep -q listening $W/out 2>/dev/null && break; sleep 0.1; done
secret=$(grep -o 'secret [0-9a-f]*' $W/out | cut -d' ' -f2)
for mode in "--raw" ""; do
  s0=$(awk '{print $14+$15}' /proc/$pid/stat)
  /usr/bin/time -f "generator $mode: user %U s, sys %S s, wall %e s" $B/LedgerLoad --port 7396 --secret $secret --seconds 10 --connections 64 --batch 1 $mode --label "64x1 $mode"
  s1=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "server during it: $(( (s1 - s0) )) ticks (1/100 s) of CPU"
done
kill $pid; wait $pid
