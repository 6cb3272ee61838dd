#!/usr/bin/env bash
# The payments demo that `make run` runs until the server exists: a fresh data
# directory, a wallet top-up, a withdrawal hold and its payout, a marketplace
# sale split into merchant share and commission, balances, then verify.
set -euo pipefail
LEDGERCTL=${LEDGERCTL:-.build/debug/ledgerctl}
DATA_DIR=${DATA_DIR:-./demo-data}
rm -rf "$DATA_DIR"
ctl() { "$LEDGERCTL" "$@" --data-dir "$DATA_DIR"; }

echo "== init $DATA_DIR"
ctl init --wal-file-mib 4
echo "== accounts (ledger 840 = USD, amounts in cents)"
ctl account create --id 1 --ledger 840 --code 10     # gateway settlement (asset)
ctl account create --id 2 --ledger 840 --code 20 --flags debits-must-not-exceed-credits   # Alice's wallet
ctl account create --id 3 --ledger 840 --code 20 --flags debits-must-not-exceed-credits   # merchant's wallet
ctl account create --id 4 --ledger 840 --code 30     # platform commission income
ctl account create --id 5 --ledger 840 --code 40     # payouts in flight to the bank

echo "== post: top-up, withdrawal hold, sale with commission, payout of the hold, an overdraft attempt"
ctl post <<'JSON'
{"id":"1001","code":1,"metadata":"gateway:ch_3Nx8","postings":[{"account":"1","debit":"10000"},{"account":"2","credit":"10000"}]}
{"id":"1002","kind":"pending","timeoutSeconds":86400,"code":2,"metadata":"withdrawal:w_77","postings":[{"account":"2","debit":"3000"},{"account":"5","credit":"3000"}]}
{"id":"1003","code":3,"metadata":"order:o_981","postings":[{"account":"2","debit":"5000"},{"account":"3","credit":"4750"},{"account":"4","credit":"250"}]}
{"id":"1004","kind":"postPending","pendingId":"1002","code":4,"metadata":"payout-batch:2026-11-21"}
{"id":"1005","code":2,"metadata":"withdrawal:w_78","postings":[{"account":"2","debit":"3000"},{"account":"5","credit":"3000"}]}
{"id":"1001","code":1,"metadata":"gateway:ch_3Nx8","postings":[{"account":"1","debit":"10000"},{"account":"2","credit":"10000"}]}
JSON

echo "== balances"
ctl balance 1 2 3 4 5
echo "== lookup 1004"
ctl lookup 1004
echo "== verify"
ctl verify
