// Client-supplied events: the batch decoder and the state machine behind it,
// and `ledgerctl post`'s JSON lines.

import LedgerInput

@testable import LedgerEngine

enum EventFuzz {
    /// Accounts 1–4 in ledger 840 (3 and 4 with balance limits) and 5 in
    /// ledger 978, so fuzzed entries reach the posting rules.
    static let prelude = EventBatch([
        .createAccount(NewAccount(id: 1, ledger: 840, code: 1)),
        .createAccount(NewAccount(id: 2, ledger: 840, code: 1)),
        .createAccount(NewAccount(id: 3, ledger: 840, code: 1, flags: .debitsMustNotExceedCredits)),
        .createAccount(NewAccount(id: 4, ledger: 840, code: 1, flags: .creditsMustNotExceedDebits)),
        .createAccount(NewAccount(id: 5, ledger: 978, code: 1)),
    ])

    /// Byte 0: how many events go in each applied batch (1–8); the rest: a
    /// stream of encoded events. A stream the validator accepts is applied
    /// (after the prelude) and must leave every invariant intact; its
    /// decoded events must re-encode to the same bytes.
    static func events(_ input: [UInt8]) {
        guard input.count >= 2 else { return }
        let perBatch = Int(input[0] % 8) + 1
        let stream = Array(input.dropFirst())
        var sizes: [Int] = []
        stream.withUnsafeBytes { p in
            var offset = 0
            while offset < p.count, sizes.count < Limits.batchEventsMax, let size = EventBatchReader.eventSize(p, at: offset), size > 0 {
                sizes.append(size)
                offset += size
            }
        }
        guard !sizes.isEmpty, let batch = try? EventBatch(validating: Array(stream.prefix(sizes.reduce(0, +))), eventCount: sizes.count) else {
            for count in [1, 2] { _ = try? EventBatch(validating: stream, eventCount: count) }
            return
        }
        require(EventBatch(batch.events()) == batch, "validated events re-encode differently")
        var machine = LedgerStateMachine(entryCapacity: 64)
        var timestamp: UInt64 = 1_700_000_000_000_000_000
        _ = machine.apply(prelude, timestamp: timestamp)
        timestamp += 100
        var offset = 0
        var index = 0
        while index < sizes.count {
            let count = min(perBatch, sizes.count - index)
            let bytes = Array(batch.bytes[offset..<(offset + sizes[index..<(index + count)].reduce(0, +))])
            let part = EventBatch(bytes: bytes, eventCount: count)
            let results = machine.apply(part, timestamp: timestamp)
            require(results.count == count, "\(results.count) results for \(count) events")
            timestamp += UInt64(count) + 1_000_000_000
            offset += bytes.count
            index += count
        }
        let violations = machine.invariantViolations()
        require(violations.isEmpty, "invariants broken: \(violations)")
    }

    /// One `post` line: parsed strictly; what parses must encode to a batch
    /// the engine's validator judges without crashing.
    static func postJSON(_ input: [UInt8]) {
        guard let event = try? EventInput.parse(line: input) else { return }
        let batch = EventBatch([event])
        _ = try? EventBatch(validating: batch.bytes, eventCount: 1)
    }
}
