import LedgerTestSupport
import Testing

@testable import LedgerProtocol

/// Protocol version 2's vectors (Specs/protocol.md, "Read-your-writes"):
/// decoded to what the spec says and re-encoded byte for byte; damaged or
/// out-of-range prefixes are refused.
@Suite struct ReadYourWritesVectorTests {
    static func vector(_ name: String) throws -> [UInt8] { try ProtocolVectorTests.vector(name) }

    @Test func helloOfferingBothVersions() throws {
        let bytes = try Self.vector("protocol-v2-hello.hex")
        let (header, body) = try Frame.decode(bytes)
        // hello itself travels in a version 1 frame: nothing is agreed yet.
        #expect(header.version == 1)
        let hello = try HelloRequest.decode(body)
        #expect(hello == HelloRequest(versions: 1...2, keyID: "dev", secret: Array(0..<32)))
        #expect(Frame.encode(operation: ProtocolOperation.hello.rawValue, requestID: 1, body: hello.encoded()) == bytes)
    }

    @Test func resultsCarryTheirCommitLSN() throws {
        let bytes = try Self.vector("protocol-v2-results.hex")
        let (header, body) = try Frame.decode(bytes)
        #expect(header.version == 2 && header.requestID == 2 && header.status == 0)
        let committed = try CommittedResultsBody.decode(body, eventCount: 1)
        #expect(committed.results == [.ok] && committed.lsn == 4242)
        let encoded = CommittedResultsBody.encode([.ok], lsn: 4242)
        #expect(Frame.encode(operation: ProtocolOperation.submitEntries.rawValue, requestID: 2, body: encoded, version: 2) == bytes)
        // A version 1 decoder refuses it (the sizes differ), so a client that
        // got the versions wrong fails loudly instead of misreading results.
        #expect(throws: ProtocolError.self) { try ResultsBody.decode(body, eventCount: 1) }
        #expect(throws: ProtocolError.self) { try CommittedResultsBody.decode(Array(body[0..<7]), eventCount: 1) }
        #expect(throws: ProtocolError.self) { try CommittedResultsBody.decode([UInt8](repeating: 0, count: 16), eventCount: 1) }  // LSN 0
    }

    @Test func readsCarryAMinimumLSNAndAWait() throws {
        let bytes = try Self.vector("protocol-v2-lookup-accounts.hex")
        let (header, body) = try Frame.decode(bytes)
        #expect(header.version == 2 && header.operation == ProtocolOperation.lookupAccounts.rawValue)
        let (consistency, rest) = try ReadConsistency.split(body)
        #expect(consistency == ReadConsistency(minLSN: 4242, waitMilliseconds: 5_000))
        #expect(try IDListBody.decode(rest) == [1, 2])
        let encoded = consistency.encoded() + IDListBody.encode([1, 2])
        #expect(Frame.encode(operation: ProtocolOperation.lookupAccounts.rawValue, requestID: 4, body: encoded, version: 2) == bytes)
        var nonZero = body
        nonZero[12] = 1
        #expect(throws: ProtocolError.self) { try ReadConsistency.split(nonZero) }
        var tooLong = body
        tooLong.replaceSubrange(8..<12, with: [0x61, 0xEA, 0, 0])  // 60,001 ms
        #expect(throws: ProtocolError.self) { try ReadConsistency.split(tooLong) }
        #expect(throws: ProtocolError.self) { try ReadConsistency.split(Array(body[0..<15])) }
        #expect(ProtocolOperation.allCases.filter(\.isRead) == [.lookupAccounts, .lookupEntries, .accountHistory, .balanceAsOf])
    }

    @Test func behindIsAnErrorReplyThatKeepsTheConnection() throws {
        let bytes = try Self.vector("protocol-v2-behind.hex")
        let (header, body) = try Frame.decode(bytes)
        #expect(header.version == 2 && header.status == ProtocolStatus.behind.rawValue && !ProtocolStatus.behind.closesConnection)
        let error = ProtocolError(.behind, String(decoding: body, as: UTF8.self))
        #expect(Frame.error(error, operation: ProtocolOperation.lookupAccounts.rawValue, requestID: 4, version: 2) == bytes)
    }

    @Test func framesOfAVersionNoOneSpeaksAreRefused() throws {
        var frame = try Self.vector("protocol-v2-behind.hex")
        frame[4] = 3
        let crc = frame.withUnsafeBytes { Wire.maskedCRC(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        frame.replaceSubrange(28..<32, with: (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * UInt32($0))) })
        #expect(throws: ProtocolError.self) { try Frame.decode(frame) }
        do { _ = try Frame.decode(frame) } catch { #expect((error as? ProtocolError)?.status == .unsupportedVersion) }
    }
}
