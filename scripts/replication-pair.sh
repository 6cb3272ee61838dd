#!/usr/bin/env bash
# A primary and a standby on loopback, for the demo and the replication
# benchmark. Source it; BIN is the directory holding LedgerServer and
# ledgerctl, WORK a scratch directory. Defines:
#   pair_keys                 a keys file with a client key (dev) and a replication key (repl)
#   pair_start_primary ARGS   LedgerServer on $WORK/primary (port $PRIMARY_PORT), extra ARGS
#   pair_start_standby ARGS   basebackup into $WORK/standby, then LedgerServer --standby-of (port $STANDBY_PORT)
#   pair_stop                 SIGTERM both, wait
#   pair_lsn PORT             the server's last LSN (ledgerctl status)
PRIMARY_PORT=${PRIMARY_PORT:-7480}
STANDBY_PORT=${STANDBY_PORT:-7481}
PAIR_PIDS=()

pair_keys() {
  python3 - "$WORK" <<'PY'
import hashlib, os, sys
work = sys.argv[1]
lines, secrets = [], {}
for key, role in (("dev", ""), ("repl", " role=replication")):
    salt, secret = os.urandom(16), os.urandom(32)
    lines.append(f"{key} {salt.hex()} {hashlib.sha256(salt + secret).hexdigest()}{role}")
    secrets[key] = secret.hex()
open(f"{work}/api-keys", "w").write("\n".join(lines) + "\n")
open(f"{work}/dev.secret", "w").write(secrets["dev"])
open(f"{work}/repl.secret", "w").write(secrets["repl"])
open(f"{work}/repl.key", "w").write(f"repl {secrets['repl']}\n")
PY
  CLIENT_SECRET=$(cat "$WORK/dev.secret")
  REPLICATION_SECRET=$(cat "$WORK/repl.secret")
}

pair_wait_listening() {  # log file
  for _ in $(seq 600); do grep -q listening "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "server did not start: $(cat "$1")" >&2
  return 1
}

pair_start_primary() {
  "$BIN/LedgerServer" --data-dir "$WORK/primary" --keys-file "$WORK/api-keys" --port "$PRIMARY_PORT" --metrics-port 0 \
    --max-connections 2000 "$@" >"$WORK/primary.out" 2>"$WORK/primary.log" &
  PAIR_PIDS+=($!)
  pair_wait_listening "$WORK/primary.out"
}

pair_start_standby() {
  "$BIN/ledgerctl" basebackup --server "127.0.0.1:$PRIMARY_PORT" --key-id repl --secret "$REPLICATION_SECRET" --to "$WORK/standby" 2>/dev/null
  "$BIN/LedgerServer" --data-dir "$WORK/standby" --keys-file "$WORK/api-keys" --port "$STANDBY_PORT" --metrics-port 0 \
    --standby-of "127.0.0.1:$PRIMARY_PORT" --replication-key-file "$WORK/repl.key" "$@" >"$WORK/standby.out" 2>"$WORK/standby.log" &
  PAIR_PIDS+=($!)
  pair_wait_listening "$WORK/standby.out"
}

pair_stop() {
  for pid in "${PAIR_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PAIR_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PAIR_PIDS=()
}

pair_lsn() {
  "$BIN/ledgerctl" status --server "127.0.0.1:$1" --secret "$CLIENT_SECRET" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["lastLSN"])'
}
