// A Swift client for LedgerServer (Specs/protocol.md).
//
// - One connection, reused; opened (with the handshake) on first use and
//   re-opened after it drops.
// - Pipelining: up to the server's `inFlightMax` requests at once; replies
//   are matched by request id.
// - Automatic batching: concurrent `submit(_ entry:)` calls are gathered into
//   one `submitEntries` request (see EntryGatherer.swift).
// - Deadlines: every call ends by its deadline (`deadlineMs`), with an answer
//   or `deadlineExceeded`.
// - Retries: `busy`, `rateLimited`, `tooManyInFlight`, a dropped connection
//   and a stopping server are retried with the *same bytes*, hence the same
//   ids, until the deadline. Idempotency makes that safe: an event the
//   first attempt applied answers `exists` on the retry, so callers treat
//   `ok` and `exists` alike as "applied once".
import LedgerModel
import LedgerProtocol
import NIOCore
import NIOPosix

/// Where the server is, the API key, deadlines, retries and gathering.
public struct LedgerClientConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The API key's id (1–64 bytes of UTF-8) and its secret (16–64 bytes).
    public var keyID: String
    public var secret: [UInt8]
    /// Each call's deadline, retries included.
    public var deadlineMs: Int64 = 10_000
    /// Each connection attempt's limit.
    public var connectTimeoutMs: Int64 = 2_000
    /// Back-off between retries: doubles from the first to the max.
    public var retryDelayMsFirst: Int64 = 2
    public var retryDelayMsMax: Int64 = 200
    /// Gathered `submit(_ entry:)` calls: events per request, and requests
    /// of gathered entries in flight at once (calls arriving while that many
    /// are in flight wait for the next request).
    public var gatherEventsMax = Limits.batchEventsMax
    public var gatherRequestsInFlightMax = 2
    /// TLS (the server runs with --tls-certificate): nil for plain TCP.
    public var tls: LedgerClientTLS?
    /// The protocol versions offered in `hello` (the server picks the
    /// highest both speak); 2 carries write LSNs and read-your-writes.
    public var protocolVersions = ProtocolFormat.versions
    /// How long a read may wait on the server for `readMinLSN` before it is
    /// answered `behind` (protocol 2; at most `readWaitMillisecondsMax`).
    public var readWaitMs: UInt32 = 5_000

    /// Traps on a key id or secret outside the protocol's sizes (programmer error).
    public init(host: String = "127.0.0.1", port: Int = ProtocolFormat.defaultPort, keyID: String, secret: [UInt8]) {
        precondition(ProtocolFormat.keyIDBytes.contains(keyID.utf8.count), "key id of \(keyID.utf8.count) bytes")
        precondition(ProtocolFormat.secretBytes.contains(secret.count), "secret of \(secret.count) bytes")
        self.host = host
        self.port = port
        self.keyID = keyID
        self.secret = secret
    }
}

/// TLS settings: the roots that sign the server's certificate (PEM; nil:
/// the system's) and the name to verify it against (nil: the host).
public struct LedgerClientTLS: Sendable {
    public var trustRootsPEMPath: String?
    public var serverHostname: String?

    /// nil for either: the system's roots, the configured host.
    public init(trustRootsPEMPath: String? = nil, serverHostname: String? = nil) {
        self.trustRootsPEMPath = trustRootsPEMPath
        self.serverHostname = serverHostname
    }
}

/// A connection to a LedgerServer, opened on first use and reopened after a
/// drop; calls from many tasks are pipelined on it (see the top of this file
/// for retries, deadlines and gathering). Calls throw `LedgerClientError`.
public actor LedgerClient {
    public let configuration: LedgerClientConfiguration
    private let group: any EventLoopGroup
    private var connection: ClientConnection?
    /// A handshake has succeeded once: later refusals are a restarting server.
    private var everConnected = false
    private var connecting: Task<(ClientConnection, HelloReply), any Error>?
    /// The server's limits, from the latest handshake.
    public private(set) var server: HelloReply?
    private var nextRequestID: UInt64 = 2  // 1 is each connection's hello
    private var inFlight = 0
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []
    var gatherer = EntryGatherer()
    /// Attempts beyond the first, over the client's life (for tests and metrics).
    public private(set) var retries = 0
    /// Request frames sent, retries included (shows how well calls gather).
    public private(set) var requestsSent = 0
    /// The highest LSN a write through this client committed at (protocol
    /// 2; 0 before any).
    public private(set) var lastWriteLSN: UInt64 = 0
    /// Reads are served only by a server that has this LSN (its own writes'
    /// and any passed to `readYourWrites(atLeast:)`): read-your-writes,
    /// on a standby too. Protocol 2; a version 1 server ignores it.
    public private(set) var readMinLSN: UInt64 = 0

    /// Connects lazily, on the first call, on `group`'s event loops.
    public init(_ configuration: LedgerClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.group = group
    }

    // MARK: - Operations

    /// Creates accounts as one request; one result per account, in order
    /// (`exists` for an id created before with the same fields).
    public func createAccounts(_ accounts: [NewAccount]) async throws -> [ResultCode] {
        var batch = EventBatch()
        for account in accounts { batch.append(account) }
        return try await submitBatch(batch, operation: .createAccounts)
    }

    /// Closes accounts (no new postings) as one request; one result per id.
    public func closeAccounts(_ ids: [UInt128]) async throws -> [ResultCode] {
        var batch = EventBatch()
        for id in ids { batch.appendClose(id) }
        return try await submitBatch(batch, operation: .createAccounts)
    }

    /// Submits entries as one request (at most `Limits.batchEventsMax`);
    /// one result per entry, in order.
    public func submit(_ entries: [NewEntry]) async throws -> [ResultCode] {
        var batch = EventBatch()
        for entry in entries { batch.append(entry) }
        return try await submitBatch(batch, operation: .submitEntries)
    }

    /// Submits an encoded batch of entries as one request.
    public func submit(batch: EventBatch) async throws -> [ResultCode] {
        try await submitBatch(batch, operation: .submitEntries)
    }

    /// Submits an encoded batch of account events (create, close) as one request.
    public func submitAccounts(batch: EventBatch) async throws -> [ResultCode] {
        try await submitBatch(batch, operation: .createAccounts)
    }

    /// Submits one entry, gathered with concurrent calls into one request.
    public func submit(_ entry: NewEntry) async throws -> ResultCode {
        var single = EventBatch()
        single.append(entry)
        // Checked alone first: a malformed entry must not sink the others it
        // would be gathered with.
        _ = try Self.validated(single, operation: .submitEntries)
        return try await gather(single)
    }

    /// Later reads wait until their server has `lsn` (a write's commit LSN,
    /// from this client or another): reads see those writes, on any node.
    public func readYourWrites(atLeast lsn: UInt64) { readMinLSN = max(readMinLSN, lsn) }

    /// The accounts with these ids, in order; nil for an unknown id.
    public func lookupAccounts(_ ids: [UInt128]) async throws -> [Account?] {
        let body = try await read(.lookupAccounts, IDListBody.encode(try Self.checkedIDs(ids)))
        return try AccountListBody.decode(body, count: ids.count)
    }

    /// The entries with these ids, in order, with their timestamps and hold
    /// state; nil for an id that was never applied.
    public func lookupEntries(_ ids: [UInt128]) async throws -> [EntryListBody.Row?] {
        let body = try await read(.lookupEntries, IDListBody.encode(try Self.checkedIDs(ids)))
        return try EntryListBody.decode(body, count: ids.count)
    }

    /// A page of an account's history, oldest first; pass the page's
    /// `nextCursor` as the next query's `afterNs`.
    public func history(_ query: HistoryQuery) async throws -> HistoryPage {
        try HistoryPageBody.decode(try await read(.accountHistory, query.encoded()))
    }

    /// The account's balances after every event at or before `asOfNs`.
    public func balance(account: UInt128, asOfNs: UInt64) async throws -> AccountBalances {
        try BalanceBodies.decodeBalances(try await read(.balanceAsOf, BalanceBodies.encodeQuery(account: account, asOfNs: asOfNs)))
    }

    /// The server's last durable LSN, counts and queue depth.
    public func status() async throws -> StatusBody {
        try StatusBody.decode(try await call(.status, []))
    }

    /// Closes the connection; a later call opens a new one.
    public func close() async {
        connecting?.cancel()
        connecting = nil
        await connection?.close()
        connection = nil
    }

    // MARK: - Requests, retries, deadlines

    func submitBatch(_ batch: EventBatch, operation: ProtocolOperation) async throws -> [ResultCode] {
        let body = EventBatchBody.encode(try Self.validated(batch, operation: operation))
        let (version, reply) = try await call(operation) { _ in body }
        guard version >= ProtocolFormat.readYourWritesVersion else { return try ResultsBody.decode(reply, eventCount: batch.eventCount) }
        let committed = try CommittedResultsBody.decode(reply, eventCount: batch.eventCount)
        lastWriteLSN = max(lastWriteLSN, committed.lsn)
        readMinLSN = max(readMinLSN, committed.lsn)
        return committed.results
    }

    /// A read: in protocol 2 preceded by `readMinLSN` and the wait for it.
    func read(_ operation: ProtocolOperation, _ body: [UInt8]) async throws -> [UInt8] {
        let consistency = ReadConsistency(minLSN: readMinLSN, waitMilliseconds: min(configuration.readWaitMs, ProtocolFormat.readWaitMillisecondsMax))
        return try await call(operation) { version in version >= ProtocolFormat.readYourWritesVersion ? consistency.encoded() + body : body }.body
    }

    /// The batch as the server will check it, so a bad one fails here
    /// without a round trip.
    static func validated(_ batch: EventBatch, operation: ProtocolOperation) throws -> EventBatch {
        guard (1...Limits.batchEventsMax).contains(batch.eventCount) else {
            throw LedgerClientError.refused(.malformedBody, "a request takes 1...\(Limits.batchEventsMax) events, not \(batch.eventCount)")
        }
        do {
            try EventBatchBody.validate(batch, for: operation)
            return batch
        } catch let error as ProtocolError {
            throw LedgerClientError.refused(error.status, error.message)
        }
    }

    static func checkedIDs(_ ids: [UInt128]) throws -> [UInt128] {
        guard (1...ProtocolFormat.idsPerRequestMax).contains(ids.count) else {
            throw LedgerClientError.refused(.malformedBody, "a lookup takes 1...\(ProtocolFormat.idsPerRequestMax) ids, not \(ids.count)")
        }
        return ids
    }

    /// Sends `body` until a definitive reply or the deadline; returns the
    /// reply body of status `ok`.
    func call(_ operation: ProtocolOperation, _ body: [UInt8]) async throws -> [UInt8] {
        try await call(operation) { _ in body }.body
    }

    /// Sends the body `encode` makes for the connection's protocol version
    /// (a retry may land on a new connection) until a definitive reply or
    /// the deadline; returns the version and the reply body of status `ok`.
    func call(_ operation: ProtocolOperation, _ encode: (UInt16) -> [UInt8]) async throws -> (version: UInt16, body: [UInt8]) {
        let deadline = ContinuousClock.now + .milliseconds(configuration.deadlineMs)
        var delayMs = configuration.retryDelayMsFirst
        var attempt = 0
        while true {
            if attempt > 0 {
                retries += 1
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { throw LedgerClientError.deadlineExceeded }
                try await Task.sleep(for: min(.milliseconds(delayMs), remaining))
                delayMs = min(delayMs * 2, configuration.retryDelayMsMax)
            }
            attempt += 1
            guard ContinuousClock.now < deadline else { throw LedgerClientError.deadlineExceeded }
            let connection: ClientConnection
            do {
                connection = try await connected(deadline: deadline)
            } catch let error as LedgerClientError where error != .connectionClosed {
                throw error
            } catch  where !everConnected && Self.isConnectionRefused(error) {
                throw LedgerClientError.connectionRefused("\(configuration.host):\(configuration.port)")
            } catch {
                continue  // refused (a restarting server), reset, timed out: try again until the deadline
            }
            await acquireSlot()
            let requestID = nextRequestID
            nextRequestID &+= 1
            if nextRequestID < 2 { nextRequestID = 2 }
            let reply: (header: FrameHeader, body: [UInt8])
            requestsSent += 1
            do {
                reply = try await connection.request(operation: operation, requestID: requestID, body: encode(connection.version), deadline: deadline)
                releaseSlot()
            } catch LedgerClientError.deadlineExceeded {
                releaseSlot()
                throw LedgerClientError.deadlineExceeded
            } catch {
                releaseSlot()
                drop(connection)
                continue
            }
            guard let status = ProtocolStatus(rawValue: reply.header.status), reply.header.operation == operation.rawValue else {
                drop(connection)
                throw LedgerClientError.protocolViolation("reply with status \(reply.header.status), operation \(reply.header.operation)")
            }
            if status == .ok { return (reply.header.version, reply.body) }
            let message = String(decoding: reply.body, as: UTF8.self)
            switch status {
            case .busy, .rateLimited, .tooManyInFlight:
                continue
            case .shuttingDown, .engineStopped:
                drop(connection)  // the server closes it; a restarted one may answer
                continue
            default:
                if status.closesConnection { drop(connection) }
                throw LedgerClientError.refused(status, message)
            }
        }
    }

    /// ECONNREFUSED, as NIO reports it (one per address tried).
    static func isConnectionRefused(_ error: any Error) -> Bool {
        if let error = error as? NIOConnectionError {
            return !error.connectionErrors.isEmpty && error.connectionErrors.allSatisfy { isConnectionRefused($0.error) }
        }
        if let error = error as? IOError { return error.errnoCode == ECONNREFUSED }
        return false
    }

    /// The open connection, or a new one after a successful handshake.
    /// Concurrent callers share one connection attempt.
    private func connected(deadline: ContinuousClock.Instant) async throws -> ClientConnection {
        if let connection, connection.isActive { return connection }
        let attempt: Task<(ClientConnection, HelloReply), any Error>
        if let connecting {
            attempt = connecting
        } else {
            let configuration = self.configuration
            let group = self.group
            attempt = Task {
                let connection = try await ClientConnection.connect(
                    group: group, host: configuration.host, port: configuration.port, connectTimeoutMs: configuration.connectTimeoutMs, tls: configuration.tls)
                let hello = HelloRequest(versions: configuration.protocolVersions, keyID: configuration.keyID, secret: configuration.secret).encoded()
                let reply = try await connection.request(operation: .hello, requestID: 1, body: hello, deadline: deadline)
                guard reply.header.status == ProtocolStatus.ok.rawValue else {
                    await connection.close()
                    let status = ProtocolStatus(rawValue: reply.header.status) ?? .internalError
                    throw LedgerClientError.refused(status, String(decoding: reply.body, as: UTF8.self))
                }
                let agreed = try HelloReply.decode(reply.body)
                guard configuration.protocolVersions.contains(agreed.version), reply.header.version == agreed.version else {
                    await connection.close()
                    throw LedgerClientError.protocolViolation(
                        "hello answered with protocol version \(agreed.version) in a version \(reply.header.version) frame")
                }
                connection.agreed(on: agreed.version)
                return (connection, agreed)
            }
            connecting = attempt
        }
        defer { if connecting == attempt { connecting = nil } }
        let (connection, hello) = try await attempt.value
        self.connection = connection
        everConnected = true
        server = hello
        return connection
    }

    private func drop(_ dropped: ClientConnection) {
        if connection === dropped { connection = nil }
        Task { await dropped.close() }
    }

    private func acquireSlot() async {
        let limit = server?.inFlightMax ?? 1
        if inFlight < limit {
            inFlight += 1
            return
        }
        await withCheckedContinuation { slotWaiters.append($0) }  // the releaser hands its slot over
    }

    private func releaseSlot() {
        if slotWaiters.isEmpty {
            inFlight -= 1
        } else {
            slotWaiters.removeFirst().resume()
        }
    }
}
