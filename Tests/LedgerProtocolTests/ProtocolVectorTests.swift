import Foundation
import LedgerEngine
import LedgerTestSupport
import Testing

@testable import LedgerProtocol

/// The protocol vectors of Specs/vectors (written by generate.py, an
/// independent implementation) decode to what the spec says and re-encode
/// byte for byte; damaged frames are refused with the status the spec gives.
@Suite struct ProtocolVectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func vector(_ name: String) throws -> [UInt8] {
        let text = try String(contentsOf: root.appendingPathComponent("Specs/vectors/\(name)"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.flatMap { $0.split(separator: " ") }.map { UInt8($0, radix: 16)! }
    }

    static let topUp = NewEntry(id: 1001, postings: [.debit(1, 2500), .credit(2, 2500)], code: 1, metadata: Array("gw:ch_42".utf8))

    @Test func helloVector() throws {
        let bytes = try Self.vector("protocol-hello.hex")
        let (header, body) = try Frame.decode(bytes)
        #expect(header.operation == ProtocolOperation.hello.rawValue && header.requestID == 1 && header.status == 0)
        let hello = try HelloRequest.decode(body)
        #expect(hello == HelloRequest(versions: 1...1, keyID: "dev", secret: Array(0..<32)))
        #expect(Frame.encode(operation: ProtocolOperation.hello.rawValue, requestID: 1, body: hello.encoded()) == bytes)
    }

    @Test func submitAndResultsVectors() throws {
        let request = try Self.vector("protocol-submit.hex")
        let (header, body) = try Frame.decode(request)
        #expect(header.operation == ProtocolOperation.submitEntries.rawValue && header.requestID == 2)
        let batch = try EventBatchBody.decode(body, for: .submitEntries)
        #expect(batch == EventBatch([.createEntry(Self.topUp)]))
        #expect(Frame.encode(operation: ProtocolOperation.submitEntries.rawValue, requestID: 2, body: EventBatchBody.encode(batch)) == request)
        // The same batch is not a createAccounts body.
        #expect(throws: ProtocolError.self) { try EventBatchBody.decode(body, for: .createAccounts) }

        let reply = try Self.vector("protocol-results.hex")
        let (replyHeader, replyBody) = try Frame.decode(reply)
        #expect(replyHeader.requestID == 2 && replyHeader.status == ProtocolStatus.ok.rawValue)
        #expect(try ResultsBody.decode(replyBody, eventCount: 1) == [.ok])
        #expect(Frame.encode(operation: ProtocolOperation.submitEntries.rawValue, requestID: 2, body: ResultsBody.encode([.ok])) == reply)
    }

    @Test func errorAndLookupVectors() throws {
        let busy = try Self.vector("protocol-busy.hex")
        let (header, body) = try Frame.decode(busy)
        #expect(header.status == ProtocolStatus.busy.rawValue && String(decoding: body, as: UTF8.self) == "queue full")
        #expect(Frame.error(ProtocolError(.busy, "queue full"), operation: ProtocolOperation.submitEntries.rawValue, requestID: 3) == busy)

        let lookup = try Self.vector("protocol-lookup-accounts.hex")
        let (lookupHeader, lookupBody) = try Frame.decode(lookup)
        #expect(lookupHeader.operation == ProtocolOperation.lookupAccounts.rawValue && lookupHeader.requestID == 4)
        #expect(try IDListBody.decode(lookupBody) == [1, 2])
        #expect(Frame.encode(operation: ProtocolOperation.lookupAccounts.rawValue, requestID: 4, body: IDListBody.encode([1, 2])) == lookup)
    }

    @Test func historyAndBalanceQueryVectors() throws {
        let history = try Self.vector("protocol-history-query.hex")
        let (header, body) = try Frame.decode(history)
        #expect(header.operation == ProtocolOperation.accountHistory.rawValue && header.requestID == 5)
        let query = try HistoryQuery.decode(body)
        #expect(query == HistoryQuery(account: 2, fromNs: 1_700_000_000_000_000_000, limit: 100))
        #expect(Frame.encode(operation: ProtocolOperation.accountHistory.rawValue, requestID: 5, body: query.encoded()) == history)
        let balance = try Self.vector("protocol-balance-query.hex")
        let (balanceHeader, balanceBody) = try Frame.decode(balance)
        #expect(balanceHeader.operation == ProtocolOperation.balanceAsOf.rawValue)
        let (account, asOf) = try BalanceBodies.decodeQuery(balanceBody)
        #expect(account == 2 && asOf == 1_700_000_000_000_000_000)
        #expect(
            Frame.encode(operation: ProtocolOperation.balanceAsOf.rawValue, requestID: 6, body: BalanceBodies.encodeQuery(account: 2, asOfNs: asOf)) == balance)
    }

    /// Replies round-trip (their layout is in the spec; the server writes them).
    @Test func replyBodiesRoundTrip() throws {
        var item = HistoryItem(id: 77, kind: .voidPending, timestamp: 9, lsn: 3, balances: AccountBalances())
        item.debitsPendingDelta = -40
        item.balances.creditsPosted = 12
        let page = HistoryPage(items: [item], nextCursor: 9)
        #expect(try HistoryPageBody.decode(HistoryPageBody.encode(page)) == page)
        let row = EntryListBody.Row(timestamp: 5, lsn: 2, entry: Self.topUp)
        #expect(try EntryListBody.decode(EntryListBody.encode([row, nil]), count: 2) == [row, nil])
        // The row's zero field is checked (found by the `bodies` fuzz target).
        var nonZero = EntryListBody.encode([nil])
        nonZero[7] = 0x11
        #expect(throws: ProtocolError.self) { try EntryListBody.decode(nonZero, count: 1) }
        #expect(throws: ProtocolError.self) { try HistoryQuery.decode([UInt8](repeating: 0, count: 48)) }  // limit 0
    }

    /// Every byte of a frame matters: a flip anywhere is refused, with the
    /// status the spec gives for where it landed.
    @Test func everyFlippedByteIsRefusedWithItsStatus() throws {
        let frame = try Self.vector("protocol-submit.hex")
        for offset in frame.indices {
            var damaged = frame
            damaged[offset] ^= 0x10
            // The header CRC covers every header byte, so any flip there is a
            // malformed frame; a flip in the body fails the body's CRC.
            let expected: ProtocolStatus = offset < ProtocolFormat.headerBytes ? .malformedFrame : .bodyChecksumMismatch
            #expect(throws: ProtocolError.self, "byte \(offset)") { try Frame.decode(damaged) }
            do {
                _ = try Frame.decode(damaged)
            } catch {
                #expect((error as? ProtocolError)?.status == expected, "byte \(offset): \(error)")
            }
        }
    }

    @Test func limitsAreEnforcedBeforeTheBodyIsRead() throws {
        // A header announcing more than the limit is refused from its 32 bytes.
        var header = FrameHeader(operation: 3, requestID: 9, bodyBytes: 0, bodyCRC: 0).encoded()
        header.withUnsafeMutableBytes { p in
            for i in 0..<4 { p[16 + i] = UInt8(truncatingIfNeeded: (ProtocolFormat.frameBodyBytesMax + 1) >> (8 * i)) }
        }
        let crc = header.withUnsafeBytes { Wire.maskedCRC(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        header.withUnsafeMutableBytes { p in for i in 0..<4 { p[28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) } }
        // The header is intact, so the refusal echoes its operation and request id.
        #expect(
            throws: ProtocolError(
                .frameTooLarge, "body of \(ProtocolFormat.frameBodyBytesMax + 1) bytes; at most \(ProtocolFormat.frameBodyBytesMax)", echoOperation: 3,
                echoRequestID: 9)
        ) {
            try header.withUnsafeBytes { (p) throws in _ = try FrameHeader.decode(p) }
        }
        // Bodies: too many events, an event count that disagrees, an engine-only event kind.
        var tooMany: [UInt8] = []
        Wire.append(&tooMany, UInt32(Limits.batchEventsMax + 1))
        Wire.append(&tooMany, UInt32(0))
        #expect(throws: ProtocolError.self) { try EventBatchBody.decode(tooMany, for: .submitEntries) }
        var expiry = EventBatch()
        expiry.appendExpire(77)
        #expect(throws: ProtocolError.self) { try EventBatchBody.decode(EventBatchBody.encode(expiry), for: .submitEntries) }
        #expect(throws: ProtocolError.self) { try IDListBody.decode([0, 0, 0, 0, 0, 0, 0, 0]) }
        #expect(throws: ProtocolError.self) { try HelloRequest.decode(HelloRequest(keyID: "k", secret: Array(0..<16)).encoded().dropLast().map { $0 }) }
    }
}
