# Interleaved: 4 x 8,189 for 8 s on a fresh directory, old then new, with the default automatic snapshots.
OLD=$1; NEW=$2; ROUNDS=${ROUNDS:-3}; CONF=${CONF:---connections 4 --batch 8189}
W=$(mktemp -d /tmp/stall.XXXX)
for r in $(seq $ROUNDS); do
for side in old new; do
  B=$OLD; [ $side = new ] && B=$NEW
  rm -rf $W/data
  $B/LedgerServer --data-dir $W/data --port 7395 --create-dev-key --metrics-port 0 > $W/out 2>$W/log &
  pid=$!
  for _ in $(seq 100); do grep -q listening $W/out 2>/dev/null && break; sleep 0.1; done
  secret=$(grep -o 'secret [0-9a-f]*' $W/out | cut -d' ' -f2)
  $NEW/LedgerLoad --port 7395 --secret $secret --seconds ${SECS:-8} $CONF --label "round $r $side" 2>&1 | tail -1
  echo "  snapshots: $(grep -c 'snapshot: wrote' $W/log)"
  kill -INT $pid; wait $pid; sleep 1
done
done
rm -rf $W
