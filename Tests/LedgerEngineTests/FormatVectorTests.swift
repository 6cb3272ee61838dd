import Foundation
import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// The vectors in Specs/vectors were written by an independent Python
/// implementation of the specs (Specs/vectors/generate.py). Each test decodes
/// a vector and encodes the same value back, byte for byte: any format drift
/// fails here.
@Suite struct FormatVectorTests {
    static func vector(_ name: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Specs/vectors/\(name)"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.flatMap { $0.split(separator: " ") }.map { UInt8($0, radix: 16)! }
    }

    /// A one-line hex text vector (such as `wal-chain-1.txt`) as bytes.
    static func hexText(_ name: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Specs/vectors/\(name)"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return stride(from: 0, to: text.count, by: 2).map { i in
            UInt8(text[text.index(text.startIndex, offsetBy: i)..<text.index(text.startIndex, offsetBy: i + 2)], radix: 16)!
        }
    }

    static let topUp = NewEntry(
        id: 1001, postings: [.debit(1, 2500), .credit(2, 2500)], code: 1, metadata: Array("gw:ch_42".utf8))

    @Test func entryVectorDecodesAndReencodes() throws {
        let bytes = try Self.vector("event-entry-posted.hex")
        #expect(EventBatch([.createEntry(Self.topUp)]).bytes == bytes)
        let batch = try EventBatch(validating: bytes, eventCount: 1)
        #expect(batch.events() == [.createEntry(Self.topUp)])
    }

    @Test func accountAndCloseVectorsDecodeAndReencode() throws {
        let account = NewAccount(id: 2, ledger: 840, code: 1, flags: .debitsMustNotExceedCredits)
        #expect(EventBatch([.createAccount(account)]).bytes == (try Self.vector("event-create-account.hex")))
        #expect(try EventBatch(validating: Self.vector("event-create-account.hex"), eventCount: 1).events() == [.createAccount(account)])
        #expect(EventBatch([.closeAccount(2)]).bytes == (try Self.vector("event-close-account.hex")))
        #expect(try EventBatch(validating: Self.vector("event-close-account.hex"), eventCount: 1).events() == [.closeAccount(2)])
    }

    @Test func expireHoldVectorDecodesAndIsRefusedFromClients() throws {
        let bytes = try Self.vector("event-expire-hold.hex")
        #expect(EventBatch([.expireHold(1002)]).bytes == bytes)
        #expect(bytes.withUnsafeBytes { EventBatchReader.decode($0, at: 0) } == .expireHold(1002))
        bytes.withUnsafeBytes { #expect((try? EventBatchReader.validate($0, eventCount: 1, allowEngineEvents: true)) != nil) }
        #expect(throws: LedgerError.self) { _ = try EventBatch(validating: bytes, eventCount: 1) }
    }

    @Test func malformedEventBytesAreRejectedWithoutApplying() throws {
        var bytes = try Self.vector("event-entry-posted.hex")
        bytes[12] = 1  // a reserved byte
        #expect(throws: LedgerError.self) { _ = try EventBatch(validating: bytes, eventCount: 1) }
        #expect(throws: LedgerError.self) { _ = try EventBatch(validating: Array(bytes.prefix(70)), eventCount: 1) }
        #expect(throws: LedgerError.self) { _ = try EventBatch(validating: try Self.vector("event-entry-posted.hex"), eventCount: 2) }
        var unknownKind = try Self.vector("event-close-account.hex")
        unknownKind[0] = 9
        #expect(throws: LedgerError.self) { _ = try EventBatch(validating: unknownKind, eventCount: 1) }
    }

    @Test func walFileHeaderVectorDecodesAndReencodes() throws {
        let bytes = try Self.vector("wal-file-header.hex")
        let header = WALFileHeader(fileBytes: 65_536, firstLSN: 1, epoch: Array(0..<16), chainSeed: 0)
        let encoded = header.encoded()
        #expect(Array(encoded[0..<64]) == bytes)
        #expect(encoded[64...].allSatisfy { $0 == 0 })
        #expect(try WALFileHeader.decode(bytes, path: "vector") == header)
    }

    @Test func walGroupRecordVectorDecodes() throws {
        let record = try Self.vector("wal-record-group.hex")
        let epochSeed = WALFileHeader(fileBytes: 65_536, firstLSN: 1, epoch: Array(0..<16), chainSeed: 0).epochSeed
        let header = try #require(record.withUnsafeBytes { WALRecordHeader.standalone($0, at: 0, epochSeed: epochSeed) })
        #expect(header.lsn == 1 && header.previousCRC == 0 && header.type == WALFormat.recordTypeGroup)
        // The same record sealed by the Swift writer code.
        var resealed = record
        resealed.withUnsafeMutableBytes { p in
            for i in 0..<WALFormat.recordHeaderBytes { p[i] = 0 }
            WALRecordHeader.seal(p, payloadBytes: header.payloadBytes, type: 1, lsn: 1, previousCRC: 0, epochSeed: epochSeed)
        }
        #expect(resealed == record)
        // Another epoch must not validate it.
        #expect(record.withUnsafeBytes { WALRecordHeader.standalone($0, at: 0, epochSeed: epochSeed ^ 1) } == nil)
        let payload = Array(record[WALFormat.recordHeaderBytes..<(WALFormat.recordHeaderBytes + header.payloadBytes)])
        var batches: [(UInt64, [Event], [UInt8])] = []
        try payload.withUnsafeBytes { p in
            try WALGroupPayload.forEachBatch(p) { batch in
                let events = EventBatch(bytes: Array(batch.events), eventCount: batch.eventCount).events()
                batches.append((batch.timestamp, events, Array(batch.results)))
            }
        }
        #expect(batches.count == 1)
        #expect(batches.first?.0 == 1_700_000_000_000_000_000)
        #expect(batches.first?.1 == [.createEntry(Self.topUp)])
        #expect(batches.first?.2 == [ResultCode.ok.rawValue])
        // The chain value, against Python's hashlib (Specs/vectors/wal-chain-1.txt).
        let chain = HashChain(directoryID: Array(0xF0...0xFF))
        let computed = payload.withUnsafeBytes { chain.next(lsn: 1, payload: $0) }
        #expect(payload.withUnsafeBytes { WALGroupPayload.chainHash($0) } == computed)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let expectedHex = try String(contentsOf: root.appendingPathComponent("Specs/vectors/wal-chain-1.txt"), encoding: .utf8)
        #expect(HashChain(head: computed).hex == expectedHex.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The engine's group encoder produces the vector's payload (except the
    /// result: here the accounts do not exist).
    @Test func engineWritesTheSpecifiedGroupPayload() throws {
        let disk = SimulatedDisk(seed: 1)
        var options = Ledger.Options()
        options.walFileBytes = 64 * 1024
        options.clock = { 1_700_000_000_000_000_000 }
        try Ledger.initialize(at: "/v", storage: disk, options: options)
        let ledger = try Ledger.open(at: "/v", storage: disk, options: options)
        #expect(try ledger.submitAndWait(EventBatch([.createEntry(Self.topUp)])) == [.accountNotFound])
        try ledger.close()
        var payloads: [[UInt8]] = []
        _ = try WALReader(storage: disk, layout: DataDirectoryLayout(root: "/v")).scan(mode: .recover) { payloads.append(Array($0.payload)) }
        let record = try Self.vector("wal-record-group.hex")
        var expected = Array(record[WALFormat.recordHeaderBytes...])
        let resultOffset = expected.count - 8
        expected[resultOffset] = ResultCode.accountNotFound.rawValue
        // The chain field depends on this directory's random id: compare it
        // with the chain computed for that id, and the rest byte for byte.
        var written = try #require(payloads.first)
        let directoryID = try disk.directoryID("/v")
        let chainValue = written.withUnsafeBytes { HashChain(directoryID: directoryID).next(lsn: 1, payload: $0) }
        #expect(written.withUnsafeBytes { WALGroupPayload.chainHash($0) } == chainValue)
        for i in HashChain.fieldOffset..<(HashChain.fieldOffset + HashChain.hashBytes) {
            written[i] = 0
            expected[i] = 0
        }
        #expect(written == expected)
    }

    @Test func indexSlotVectorDecodesAndReencodes() throws {
        let bytes = try Self.vector("index-slot.hex")
        var account = Account(id: 2, userData: 0, ledger: 840, code: 1, flags: .debitsMustNotExceedCredits, timestamp: 1_700_000_000_000_000_001)
        account.creditsPosted = 2500
        var encoded = [UInt8](repeating: 0, count: BalanceIndexFormat.slotBytes)
        encoded.withUnsafeMutableBytes { BalanceIndexFormat.encodeSlot(account, lsn: 1, into: $0) }
        #expect(encoded == bytes)
        let decoded = try #require(bytes.withUnsafeBytes { BalanceIndexFormat.decodeSlot($0) })
        #expect(decoded.account == account && decoded.lsn == 1)
    }

    /// Fingerprints are rebuilt from the log on every open; a change would
    /// silently alter idempotency answers for old entries.
    @Test func fingerprintIsStable() throws {
        let bytes = try Self.vector("event-entry-posted.hex")
        let fingerprint = bytes.withUnsafeBytes { Fingerprint.of($0, offset: 0, count: $0.count) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let expected = try String(contentsOf: root.appendingPathComponent("Specs/vectors/fingerprint-entry-posted.txt"), encoding: .utf8)
        #expect(fingerprint == UInt64(expected.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
