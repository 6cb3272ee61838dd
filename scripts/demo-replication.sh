#!/usr/bin/env bash
# make demo-replication: a primary and a standby on loopback; posts through
# the primary, then prints both digests and the standby's lag.
set -euo pipefail
BIN=${BIN:?the directory holding LedgerServer and ledgerctl}
WORK=$(mktemp -d /tmp/ledger-demo-replication-XXXX)
# shellcheck source=scripts/replication-pair.sh
source "$(dirname "$0")/replication-pair.sh"
trap 'pair_stop; rm -rf "$WORK"' EXIT

pair_keys
pair_start_primary
echo "primary on 127.0.0.1:$PRIMARY_PORT ($WORK/primary)"
cat >"$WORK/accounts.jsonl" <<'JSON'
{"createAccount":{"id":"1","ledger":840,"code":1}}
{"createAccount":{"id":"2","ledger":840,"code":1}}
JSON
"$BIN/ledgerctl" post --server "127.0.0.1:$PRIMARY_PORT" --secret "$CLIENT_SECRET" --file "$WORK/accounts.jsonl" >/dev/null
pair_start_standby
echo "standby on 127.0.0.1:$STANDBY_PORT ($WORK/standby), from a base backup"
python3 -c '
import json
for i in range(1, 20001):
    print(json.dumps({"id": str(1000 + i), "postings": [{"account": "1", "debit": "100"}, {"account": "2", "credit": "100"}]}))
' >"$WORK/entries.jsonl"
"$BIN/ledgerctl" post --server "127.0.0.1:$PRIMARY_PORT" --secret "$CLIENT_SECRET" --file "$WORK/entries.jsonl" --batch-size 500 >/dev/null
echo "posted 20,000 entries to the primary"
for _ in $(seq 100); do
  [ "$(pair_lsn "$STANDBY_PORT")" = "$(pair_lsn "$PRIMARY_PORT")" ] && break
  sleep 0.1
done
echo "primary last LSN $(pair_lsn "$PRIMARY_PORT"), standby last LSN $(pair_lsn "$STANDBY_PORT") (lag $(( $(pair_lsn "$PRIMARY_PORT") - $(pair_lsn "$STANDBY_PORT") )) records)"
echo "balances on the standby:"
"$BIN/ledgerctl" balance 1 2 --server "127.0.0.1:$STANDBY_PORT" --secret "$CLIENT_SECRET"
echo "a write sent to the standby:"
"$BIN/ledgerctl" post --server "127.0.0.1:$STANDBY_PORT" --secret "$CLIENT_SECRET" --file "$WORK/accounts.jsonl" 2>&1 | tail -1 || true
pair_stop
echo "digest of the primary: $("$BIN/ledgerctl" digest --data-dir "$WORK/primary")"
echo "digest of the standby: $("$BIN/ledgerctl" digest --data-dir "$WORK/standby")"
