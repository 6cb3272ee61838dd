#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders (Tests/FuzzCorpus/README.md).
#
#   scripts/fuzz.sh build                build the libFuzzer binary (.build-fuzz)
#   scripts/fuzz.sh smoke                every target, a fixed number of inputs
#                                        from a fixed seed (part of `make test`)
#   scripts/fuzz.sh long [target...]     FUZZ_RUNS inputs (default 10,000,000)
#                                        or FUZZ_SECONDS per target, whichever
#                                        ends first; logs and crashes under
#                                        .build-fuzz/fuzz/
#
# A crash is saved as .build-fuzz/fuzz/<target>/crash-*; copy it to
# Tests/FuzzCorpus/<target>/regressions/<what-it-found> with the fix, so that
# `swift test` (FuzzCorpusTests) replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(frame bodies events post-json ledger-meta wal wal-payloads segment month-index account-copy open-month-index archive snapshot directory)
BIN=.build-fuzz/release/LedgerFuzz
WORK=.build-fuzz/fuzz
export SWIFT_BACKTRACE=enable=no  # libFuzzer reports the trap and saves the input

build() {
  # --sanitize makes SwiftPM link with libFuzzer's main; -Xswiftc
  # -sanitize=fuzzer instruments every module (SwiftPM's flag alone only
  # instruments the executable's own). -enable-testing: the targets use
  # @testable imports.
  swift build -c release --scratch-path .build-fuzz --product LedgerFuzz \
    --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address \
    -Xswiftc -DLEDGER_FUZZ -Xswiftc -enable-testing 2>&1 | grep -v "Cannot export local symbol" || true
  test -x "$BIN"
}

MAX_LEN=16384  # FuzzTarget.inputBytesMax

# Inputs per target in the smoke slice: about 5 s each on 2 cores.
smoke_runs() {
  case "$1" in
    frame|bodies|post-json) echo 100000 ;;
    events|ledger-meta|month-index|account-copy|open-month-index|wal|wal-payloads|segment|archive|snapshot) echo 5000 ;;
    directory) echo 300 ;;
  esac
}

run_target() {  # target, runs, seconds, seed
  local target=$1 runs=$2 seconds=$3 seed=$4
  mkdir -p "$WORK/$target/corpus"
  LEDGER_FUZZ_TARGET=$target "$BIN" -runs="$runs" -max_total_time="$seconds" -seed="$seed" \
    -max_len=$MAX_LEN -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$WORK/$target/" "$WORK/$target/corpus" "Tests/FuzzCorpus/$target" \
    > "$WORK/$target/log" 2>&1
}

summary() {  # target: one line from the log
  local log=$WORK/$1/log
  local runs cov secs
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  secs=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "?")
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]*' || echo "cov: ?")
  printf '%-13s %12s inputs %6ss  %s\n' "$1" "$runs" "$secs" "$cov"
}

# Everything runs from main, parsed whole before it starts: editing this
# file during a long run does not change that run.
main() {
  case "${1:-}" in
    build) build ;;
    smoke)
      build
      # Its own directory, emptied: the slice starts from the committed
      # corpus only (deterministic), and never touches a long run's files.
      WORK=.build-fuzz/smoke
      rm -rf "$WORK"
      failed=0
      for t in "${TARGETS[@]}"; do
        if run_target "$t" "$(smoke_runs "$t")" 120 1; then summary "$t"; else
          echo "fuzz target $t FAILED; log: $WORK/$t/log"; grep -E 'ERROR|Fatal|fuzz property|Test unit' "$WORK/$t/log" | head -5; failed=1
        fi
      done
      exit $failed
      ;;
    long)
      shift
      build
      # A private copy: rebuilding while a long run goes on must not touch it.
      mkdir -p "$WORK/bin"
      cp "$BIN" "$WORK/bin/LedgerFuzz-$$"
      BIN=$WORK/bin/LedgerFuzz-$$
      [ $# -gt 0 ] || set -- "${TARGETS[@]}"
      failed=0
      for t in "$@"; do
        if run_target "$t" "${FUZZ_RUNS:-10000000}" "${FUZZ_SECONDS:-86400}" "${FUZZ_SEED:-0}"; then summary "$t"; else
          echo "fuzz target $t FAILED; log: $WORK/$t/log"; grep -E 'ERROR|Fatal|fuzz property|Test unit' "$WORK/$t/log" | head -5; failed=1
        fi
      done
      exit $failed
      ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
}

main "$@"
exit $?
