import Foundation
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import NIOCore
import NIOEmbedded
import Testing

@testable import LedgerServer

/// Version negotiation and version 2's bodies in process (EmbeddedChannel):
/// `hello` picks the highest version both speak and every later frame must
/// carry it; version 2 write replies carry their commit LSN and reads their
/// minimum LSN (Specs/protocol.md, "Read-your-writes").
@Suite struct ProtocolVersionTests {
    static func hello(_ channel: EmbeddedChannel, versions: ClosedRange<UInt16>) throws -> (header: FrameHeader, body: [UInt8]) {
        let hello = HelloRequest(versions: versions, keyID: "dev", secret: ConnectionHandlerTests.secret)
        try channel.writeInbound(
            channel.allocator.buffer(bytes: Frame.encode(operation: ProtocolOperation.hello.rawValue, requestID: 1, body: hello.encoded())))
        return try #require(try ConnectionHandlerTests.reply(channel))
    }

    static func send(_ channel: EmbeddedChannel, _ operation: ProtocolOperation, id: UInt64, _ body: [UInt8], version: UInt16) throws {
        try channel.writeInbound(channel.allocator.buffer(bytes: Frame.encode(operation: operation.rawValue, requestID: id, body: body, version: version)))
    }

    static func openLedger() throws -> Ledger {
        let path = temporaryDirectory()
        try Ledger.initialize(at: path)
        return try Ledger.open(at: path)
    }

    @Test func helloPicksTheHighestSharedVersionAndLaterFramesMustCarryIt() throws {
        let ledger = try Self.openLedger()
        defer { try? ledger.close() }
        for (offered, chosen) in [(1...2, UInt16(2)), (1...1, 1), (2...9, 2)] as [(ClosedRange<UInt16>, UInt16)] {
            let channel = try ConnectionHandlerTests.channel(ledger)
            let answer = try Self.hello(channel, versions: offered)
            #expect(answer.header.status == 0 && answer.header.version == chosen, "\(offered)")
            #expect(try HelloReply.decode(answer.body).version == chosen, "\(offered)")
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
        let tooNew = try ConnectionHandlerTests.channel(ledger)
        #expect(try Self.hello(tooNew, versions: 3...9).header.status == ProtocolStatus.unsupportedVersion.rawValue)
        #expect(!tooNew.isActive)
        _ = try tooNew.finish(acceptAlreadyClosed: true)

        // Agreed on 2, a version 1 frame is refused and the connection closed.
        let channel = try ConnectionHandlerTests.channel(ledger)
        _ = try Self.hello(channel, versions: 1...2)
        try Self.send(channel, .status, id: 2, [], version: 1)
        let refused = try #require(try ConnectionHandlerTests.reply(channel))
        #expect(refused.header.status == ProtocolStatus.unsupportedVersion.rawValue && refused.header.requestID == 2)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("agreed on protocol version 2"))
        #expect(!channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// The parts answered on the event loop itself (an EmbeddedEventLoop
    /// must not be reached from another thread: writes and served reads
    /// complete off the loop, and are tested over TCP in
    /// ReadYourWritesProcessTests).
    @Test func version2ReadsNameTheLSNTheyNeedAndBadPrefixesAreRefused() throws {
        let ledger = try Self.openLedger()
        defer { try? ledger.close() }
        #expect(try ledger.submitAndWait(EventBatch([usd(1), usd(2)])) == [.ok, .ok])
        let lsn = ledger.lastLSN.current
        let channel = try ConnectionHandlerTests.channel(ledger)
        _ = try Self.hello(channel, versions: 1...2)
        // Beyond the LSN here, with no wait: `behind` at once, naming both
        // LSNs; the connection stays open.
        let ids = IDListBody.encode([1])
        try Self.send(channel, .lookupAccounts, id: 4, ReadConsistency(minLSN: lsn + 5, waitMilliseconds: 0).encoded() + ids, version: 2)
        let behind = try #require(try ConnectionHandlerTests.reply(channel))
        #expect(behind.header.status == ProtocolStatus.behind.rawValue && behind.header.requestID == 4 && behind.header.version == 2)
        #expect(String(decoding: behind.body, as: UTF8.self).contains("durable LSN \(lsn), the read asked for \(lsn + 5)"))
        #expect(channel.isActive)
        // A prefix out of range, or missing: malformedBody.
        var tooLong = ReadConsistency(minLSN: 1, waitMilliseconds: 0).encoded()
        tooLong.replaceSubrange(8..<12, with: [0x61, 0xEA, 0, 0])  // 60,001 ms
        for (id, body) in [(UInt64(5), tooLong + ids), (6, Array(ids.prefix(15)))] {
            try Self.send(channel, .lookupAccounts, id: id, body, version: 2)
            #expect(try ConnectionHandlerTests.reply(channel)?.header.status == ProtocolStatus.malformedBody.rawValue, "request \(id)")
        }
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
