import Foundation
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import LedgerServer

/// The connection handler in process (EmbeddedChannel), beside the TCP tests:
/// what a connection serves before and after its handshake.
@Suite struct ConnectionHandlerTests {
    static let secret = [UInt8](repeating: 7, count: 32)

    /// A channel with the decoder and the handler over `ledger`, connected;
    /// the one key, "dev", has `role`.
    static func channel(_ ledger: Ledger, role: KeyRole = .client) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        let salt = [UInt8](repeating: 3, count: 16)
        let keys = APIKeys(keys: ["dev": .init(salt: salt, hash: APIKeys.hash(salt: salt, secret: secret), role: role)])
        let limits = ServerLimits(maxConnections: 4, inFlightMax: 8, idleTimeoutSeconds: 60, directoryID: [UInt8](repeating: 0, count: 16))
        let telemetry = ServerTelemetry()
        let handler = ConnectionHandler(
            ledger: ledger, coalescer: SubmissionCoalescer(loop: channel.eventLoop, ledger: ledger, telemetry: telemetry), keys: keys, limits: limits,
            metrics: ServerMetrics(), telemetry: telemetry, rateLimiter: RateLimiter(), logger: Logger(label: "test"))
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7380)).wait()
        #expect(channel.isActive)
        return channel
    }

    static func reply(_ channel: EmbeddedChannel) throws -> (header: FrameHeader, body: [UInt8])? {
        guard let buffer = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        return try Frame.decode(Array(buffer.readableBytesView))
    }

    @Test func nothingButHelloIsServedBeforeTheHandshakeAndARefusalChangesNothing() throws {
        let path = temporaryDirectory()
        try Ledger.initialize(at: path)
        let ledger = try Ledger.open(at: path)
        defer { try? ledger.close() }
        let channel = try Self.channel(ledger)
        var batch = EventBatch()
        batch.append(NewAccount(id: 1, ledger: 1))
        let request = Frame.encode(operation: ProtocolOperation.createAccounts.rawValue, requestID: 2, body: EventBatchBody.encode(batch))
        try channel.writeInbound(channel.allocator.buffer(bytes: request))
        let refused = try #require(try Self.reply(channel))
        #expect(refused.header.status == ProtocolStatus.unauthenticated.rawValue && refused.header.requestID == 2)
        #expect(try ledger.account(id: 1) == nil)
        #expect(!channel.isActive, "a request before hello closes the connection")
        _ = try channel.finish(acceptAlreadyClosed: true)
        // Replication too: no stream, no base backup without a key.
        let replicate = ReplicateRequest(
            directoryID: [UInt8](repeating: 0, count: 16), timeline: 1, lastDurableLSN: 0, chainValue: [UInt8](repeating: 0, count: 32))
        for (operation, body) in [(ProtocolOperation.replicate, replicate.encoded()), (.baseBackup, [])] {
            let stranger = try Self.channel(ledger)
            try stranger.writeInbound(stranger.allocator.buffer(bytes: Frame.encode(operation: operation.rawValue, requestID: 3, body: body)))
            #expect(try Self.reply(stranger)?.header.status == ProtocolStatus.unauthenticated.rawValue, "\(operation)")
            #expect(!stranger.isActive)
            _ = try stranger.finish(acceptAlreadyClosed: true)
        }

        // A hello with the key is answered with the server's limits; a wrong
        // secret is refused and closes the connection.
        for (secret, status) in [(Self.secret, ProtocolStatus.ok), ([UInt8](repeating: 8, count: 32), .unauthenticated)] {
            let fresh = try Self.channel(ledger)
            let hello = HelloRequest(keyID: "dev", secret: secret)
            try fresh.writeInbound(
                fresh.allocator.buffer(bytes: Frame.encode(operation: ProtocolOperation.hello.rawValue, requestID: 1, body: hello.encoded())))
            let answer = try #require(try Self.reply(fresh))
            #expect(answer.header.status == status.rawValue)
            #expect(fresh.isActive == (status == .ok))
            _ = try fresh.finish(acceptAlreadyClosed: true)
        }
    }

    @Test func aRequestWithAStatusSetIsRefusedWithItsIDEchoed() throws {
        let path = temporaryDirectory()
        try Ledger.initialize(at: path)
        let ledger = try Ledger.open(at: path)
        defer { try? ledger.close() }
        let channel = try Self.channel(ledger)
        let request = Frame.encode(operation: ProtocolOperation.status.rawValue, requestID: 42, body: [], status: .busy)
        try channel.writeInbound(channel.allocator.buffer(bytes: request))
        let refused = try #require(try Self.reply(channel))
        #expect(refused.header.status == ProtocolStatus.malformedBody.rawValue && refused.header.requestID == 42)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}

/// Key roles: a replication key may ask for `status` and nothing that posts or
/// reads the ledger; a client key keeps every operation.
@Suite struct KeyRoleTests {
    /// A connection authenticated with a key of `role`.
    static func channel(_ ledger: Ledger, role: KeyRole) throws -> EmbeddedChannel {
        let channel = try ConnectionHandlerTests.channel(ledger, role: role)
        let hello = HelloRequest(keyID: "dev", secret: ConnectionHandlerTests.secret)
        try channel.writeInbound(
            channel.allocator.buffer(bytes: Frame.encode(operation: ProtocolOperation.hello.rawValue, requestID: 1, body: hello.encoded())))
        #expect(try ConnectionHandlerTests.reply(channel)?.header.status == ProtocolStatus.ok.rawValue)
        return channel
    }

    @Test func aReplicationKeyCannotPostOrReadAndTheRefusalChangesNothing() throws {
        let path = temporaryDirectory()
        try Ledger.initialize(at: path)
        let ledger = try Ledger.open(at: path)
        defer { try? ledger.close() }
        let channel = try Self.channel(ledger, role: .replication)
        var batch = EventBatch()
        batch.append(NewAccount(id: 1, ledger: 1))
        let requests: [(ProtocolOperation, [UInt8])] = [
            (.createAccounts, EventBatchBody.encode(batch)), (.lookupAccounts, IDListBody.encode([1])),
            (.balanceAsOf, BalanceBodies.encodeQuery(account: 1, asOfNs: 1)),
        ]
        for (index, (operation, body)) in requests.enumerated() {
            try channel.writeInbound(channel.allocator.buffer(bytes: Frame.encode(operation: operation.rawValue, requestID: UInt64(2 + index), body: body)))
            let refused = try #require(try ConnectionHandlerTests.reply(channel))
            #expect(refused.header.status == ProtocolStatus.forbidden.rawValue, "\(operation)")
            #expect(String(decoding: refused.body, as: UTF8.self).contains("replication role"))
        }
        #expect(channel.isActive, "forbidden keeps the connection open")
        #expect(try ledger.account(id: 1) == nil)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    /// The next reply, running the loop while an answer computed off it
    /// (a handshake decision) is on its way.
    static func awaitReply(_ channel: EmbeddedChannel) throws -> (header: FrameHeader, body: [UInt8])? {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            channel.embeddedEventLoop.run()
            if let reply = try ConnectionHandlerTests.reply(channel) { return reply }
            usleep(1_000)
        }
        return nil
    }

    @Test func replicationIsForbiddenToClientKeysAndAStrangerOrAStrayStatusIsRefused() throws {
        let path = temporaryDirectory()
        try Ledger.initialize(at: path)
        let ledger = try Ledger.open(at: path)
        defer { try? ledger.close() }
        let stranger = ReplicateRequest(
            directoryID: [UInt8](repeating: 7, count: 16), timeline: 1, lastDurableLSN: 0, chainValue: [UInt8](repeating: 0, count: 32))
        let cases: [(KeyRole, ProtocolOperation, [UInt8], ProtocolStatus)] = [
            (.client, .replicate, stranger.encoded(), .forbidden), (.client, .baseBackup, [], .forbidden),
            (.replication, .replicate, stranger.encoded(), .diverged),
            (.replication, .standbyStatus, StandbyStatus(durableLSN: 1, appliedLSN: 1, clockNs: 1).encoded(), .malformedBody),
            (.replication, .baseBackup, [1], .malformedBody),
        ]
        for (role, operation, body, status) in cases {
            let channel = try Self.channel(ledger, role: role)
            try channel.writeInbound(channel.allocator.buffer(bytes: Frame.encode(operation: operation.rawValue, requestID: 2, body: body)))
            let reply = try Self.awaitReply(channel)
            #expect(reply?.header.status == status.rawValue, "\(role) \(operation): \(String(decoding: reply?.body ?? [], as: UTF8.self))")
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
        #expect(try ledger.status().lastLSN == 0, "nothing was written")
    }

    @Test func everyRoleMayAskForStatusAndOnlyClientsMayPostOrRead() {
        for role in KeyRole.allCases {
            #expect(role.allows(.hello) && role.allows(.status))
            for operation in [ProtocolOperation.createAccounts, .submitEntries, .lookupAccounts, .lookupEntries, .accountHistory, .balanceAsOf] {
                #expect(role.allows(operation) == (role == .client), "\(role) \(operation)")
            }
            for operation in [ProtocolOperation.replicate, .standbyStatus, .baseBackup] {
                #expect(role.allows(operation) == (role == .replication), "\(role) \(operation)")
            }
        }
    }

    @Test func theKeysFileTakesAnOptionalRateAndRoleAndRefusesAnythingElse() throws {
        let salt = String(repeating: "ab", count: 16)
        let hash = String(repeating: "cd", count: 32)
        let path = temporaryDirectory() + "-keys"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = "a \(salt) \(hash)\nb \(salt) \(hash) 10\nc \(salt) \(hash) role=replication\nd \(salt) \(hash) 5 role=admin\n"
        try good.write(toFile: path, atomically: true, encoding: .utf8)
        let keys = try APIKeys.load(path: path)
        #expect(keys.role(keyID: "a") == .client && keys.role(keyID: "c") == .replication && keys.role(keyID: "d") == .admin)
        #expect(keys.eventsPerSecond(keyID: "b") == 10 && keys.eventsPerSecond(keyID: "d") == 5)
        // A key id has at most two secrets (a rotation), not three.
        let thrice = "a \(salt) \(hash)\na \(salt) \(hash)\na \(salt) \(hash)"
        for bad in ["e \(salt) \(hash) role=root", "e \(salt) \(hash) role=replication 10", thrice] {
            try (bad + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: LedgerError.self, "\(bad)") { _ = try APIKeys.load(path: path) }
        }
    }
}
