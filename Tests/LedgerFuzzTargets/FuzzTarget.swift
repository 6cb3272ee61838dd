// Coverage-guided fuzz targets for every decoder that reads bytes from
// outside the process (Tests/FuzzCorpus/README.md). Each target takes one
// input, runs the real decoder on it and checks what must hold whatever the
// bytes: no trap, no crash, and where a value decodes, that it re-encodes to
// the same bytes. A decoder may refuse any input (that is the point); it may
// never crash on one.
//
// The same functions run under libFuzzer (the LedgerFuzz executable built
// with `make fuzz`) and in `swift test` (FuzzCorpusTests replays every
// committed corpus file and every crash found, as regression tests).

import LedgerEngine
import LedgerInput
import LedgerProtocol
import LedgerTestSupport

public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A frame from the network: header, body CRC, then the body decoder
    /// its operation names.
    case frame
    /// Request and reply bodies without a frame (the first byte picks the
    /// decoder), so the fuzzer does not have to forge body CRCs.
    case bodies
    /// An event batch as a client sends it (first two bytes: event count).
    case events
    /// A WAL file: the reader and, for each record, the group and batch
    /// decoders recovery runs.
    case wal
    /// Group payloads sealed by the harness (valid CRCs, LSNs, chain): the
    /// payload decoders behind the checksums.
    case walPayloads = "wal-payloads"
    /// A whole directory around a fuzzed WAL file (first byte 0) or sealed
    /// payloads (first byte 1): the read-only open (recovery, as
    /// `Ledger.open` does it), queries, and `verify`. Slower: it allocates an
    /// engine's tables per input.
    case directory
    /// A month's segment file: scan, seal, month root.
    case segment
    /// A month index file, opened and queried.
    case monthIndex = "month-index"
    /// A month's account-ordered copy, opened and read.
    case accountCopy = "account-copy"
    /// The open month's index saved at a clean close: read, applied,
    /// queried, written again (it must re-encode to its own bytes).
    case openMonthIndex = "open-month-index"
    /// An archived month: header, frame index, decompression, scan.
    case archive
    /// A snapshot file, loaded into a state machine.
    case snapshot
    /// `ledger.meta`.
    case ledgerMeta = "ledger-meta"
    /// One line of `ledgerctl post` input.
    case postJSON = "post-json"

    /// Inputs longer than this are cut (`scripts/fuzz.sh` passes the same
    /// -max_len): room for every seed (a WAL file of 8 KiB, a sealed month
    /// of 4.7 KiB), short enough to mutate and copy fast.
    public static let inputBytesMax = 16 * 1024

    public func run(_ input: [UInt8]) {
        let input = input.count > Self.inputBytesMax ? Array(input.prefix(Self.inputBytesMax)) : input
        switch self {
        case .frame: ProtocolFuzz.frame(input)
        case .bodies: ProtocolFuzz.bodies(input)
        case .events: EventFuzz.events(input)
        case .wal: FileFuzz.wal(input)
        case .walPayloads: FileFuzz.walPayloads(input)
        case .directory: FileFuzz.wholeDirectory(input)
        case .segment: FileFuzz.segment(input)
        case .monthIndex: FileFuzz.monthIndex(input)
        case .accountCopy: FileFuzz.accountCopy(input)
        case .openMonthIndex: FileFuzz.openMonthIndex(input)
        case .archive: FileFuzz.archive(input)
        case .snapshot: FileFuzz.snapshot(input)
        case .ledgerMeta: FileFuzz.ledgerMeta(input)
        case .postJSON: EventFuzz.postJSON(input)
        }
    }
}

/// A property every input must satisfy; a failure traps, so libFuzzer saves
/// the input as a crash.
@inline(__always)
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz property violated: \(message())") }
}
