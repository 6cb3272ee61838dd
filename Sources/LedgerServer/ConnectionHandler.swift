// One client connection: the handshake, then requests dispatched to the
// engine. Replies are written on the connection's event loop; the engine
// completes on its own threads, and reads run on a worker queue, so the
// event loop never blocks on disk or on the engine.
//
// Invariants: nothing but `hello` is served before the handshake succeeds;
// nothing the key's role does not allow is served (`forbidden`); at most
// `inFlightMax` requests are unanswered; an error reply means the request
// changed nothing.
import Dispatch
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import Logging
import NIOCore

final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = InboundFrame
    typealias OutboundOut = ByteBuffer

    let ledger: Ledger
    let keys: APIKeys
    private let limits: ServerLimits
    let logger: Logger
    let metrics: ServerMetrics
    private let telemetry: ServerTelemetry
    private let coalescer: SubmissionCoalescer
    private let rateLimiter: RateLimiter
    private(set) var authenticatedKey: String?
    /// The protocol version `hello` agreed on (frames before it: 1); every
    /// later request carries it, every reply is sent in it.
    private(set) var version = ProtocolFormat.version
    var inFlight = 0
    /// Set once a `replicate` was accepted: the connection is a replication
    /// connection from then on (Specs/replication.md).
    var replication: ReplicationSender?
    var replicationStarting = false
    /// The request id of the accepted `replicate` (status frames carry it).
    var replicationRequestID: UInt64?
    /// Blocking engine reads (lookups, status) run here, off the event loop.
    static let readQueue = DispatchQueue(label: "ledger.reads", attributes: .concurrent)

    init(
        ledger: Ledger, coalescer: SubmissionCoalescer, keys: APIKeys, limits: ServerLimits, metrics: ServerMetrics, telemetry: ServerTelemetry,
        rateLimiter: RateLimiter, logger: Logger
    ) {
        self.ledger = ledger
        self.coalescer = coalescer
        self.telemetry = telemetry
        self.rateLimiter = rateLimiter
        self.keys = keys
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .invalid(let error, let header):
            reply(context, error, operation: header?.operation ?? error.echoOperation ?? 0, requestID: header?.requestID ?? error.echoRequestID ?? 0)
        case .frame(let header, _) where header.status != 0:
            // The status field is the server's to set; a request carries 0.
            reply(
                context, ProtocolError(.malformedBody, "a request's status field must be 0, not \(header.status)"), operation: header.operation,
                requestID: header.requestID)
        case .frame(let header, let body):
            handle(context, header, body)
        }
    }

    /// Why a request for `operation` is refused before it is read, if it is:
    /// no handshake yet, a role that does not allow it, a stopping server,
    /// too many requests unanswered.
    private func refusal(of operation: ProtocolOperation) -> ProtocolError? {
        guard let key = authenticatedKey else { return ProtocolError(.unauthenticated, "send hello first") }
        // Revoked since the handshake (the keys were reloaded): closed.
        guard keys.contains(keyID: key) else { return ProtocolError(.unauthenticated, "key '\(key)' was revoked") }
        let role = keys.role(keyID: key)
        guard role.allows(operation) else {
            return ProtocolError(.forbidden, "key '\(key)' has the \(role.rawValue) role, which does not allow \(operation)")
        }
        guard !metrics.isStopping else { return ProtocolError(.shuttingDown, "the server is stopping; retry on its successor") }
        guard inFlight < limits.inFlightMax else { return ProtocolError(.tooManyInFlight, "\(limits.inFlightMax) requests are unanswered") }
        return nil
    }

    private func handle(_ context: ChannelHandlerContext, _ header: FrameHeader, _ buffer: ByteBuffer) {
        // Event batches are decoded straight from the receive buffer (one
        // copy of up to 4 MiB); the other bodies are small.
        var body: [UInt8] { Array(buffer.readableBytesView) }
        guard let operation = ProtocolOperation(rawValue: header.operation) else {
            return reply(context, ProtocolError(.unknownOperation, "operation \(header.operation)"), operation: header.operation, requestID: header.requestID)
        }
        if operation == .hello { return hello(context, header, body) }
        if authenticatedKey != nil && header.version != version {
            let refusal = ProtocolError(.unsupportedVersion, "this connection agreed on protocol version \(version), not \(header.version)")
            return reply(context, refusal, operation: header.operation, requestID: header.requestID)
        }
        if let refusal = refusal(of: operation) {
            return reply(context, refusal, operation: header.operation, requestID: header.requestID)
        }
        let key = authenticatedKey!  // refusal(of:) checked it
        if isReplicationConnection && operation != .standbyStatus { return refuseOnReplicationConnection(context, header) }
        do {
            switch operation {
            case .hello: preconditionFailure("handled above")
            case .createAccounts, .submitEntries:
                // The body names the primary, so a client can follow it.
                if ledger.isStandby { throw ProtocolError(.notPrimary, limits.primaryAddress ?? "") }
                let batch = try EventBatchBody.decode(buffer.readableBytesView, for: operation)
                guard rateLimiter.take(batch.eventCount, keyID: key, perSecond: keys.eventsPerSecond(keyID: key)) else {
                    throw ProtocolError(.rateLimited, "key '\(key)' is limited to \(keys.eventsPerSecond(keyID: key)) events per second")
                }
                submit(context, header, batch)
            case .lookupAccounts, .lookupEntries, .accountHistory, .balanceAsOf:
                try read(context, header, operation, body)
            case .status:
                guard body.isEmpty else { throw ProtocolError(.malformedBody, "status takes an empty body") }
                let metrics = self.metrics
                query(context, header) { ledger in
                    let s = try ledger.status()
                    return StatusBody(
                        lastLSN: s.lastLSN, accounts: UInt64(s.accounts), residentEntries: UInt64(s.residentEntries),
                        uptimeNs: metrics.uptimeNs, connections: UInt32(metrics.connections), queueDepth: UInt32(s.queueDepthBatches)
                    ).encoded()
                }
            case .replicate, .standbyStatus, .baseBackup:
                try handleReplication(context, header, operation, body)
            case .admin:
                try handleAdmin(context, header, body)
            }
        } catch let error as ProtocolError {
            reply(context, error, operation: header.operation, requestID: header.requestID)
        } catch {
            reply(context, ProtocolError(.internalError, "\(error)"), operation: header.operation, requestID: header.requestID)
        }
    }

    private func hello(_ context: ChannelHandlerContext, _ header: FrameHeader, _ body: [UInt8]) {
        do {
            let request = try HelloRequest.decode(body)
            // The highest version both speak.
            let chosen = min(request.versions.upperBound, ProtocolFormat.versions.upperBound)
            guard chosen >= max(request.versions.lowerBound, ProtocolFormat.versions.lowerBound) else {
                throw ProtocolError(.unsupportedVersion, "this server speaks protocol versions \(ProtocolFormat.versions)")
            }
            guard keys.verify(keyID: request.keyID, secret: request.secret) else {
                throw ProtocolError(.unauthenticated, "unknown key id or wrong secret")
            }
            authenticatedKey = request.keyID
            version = chosen
            let reply = HelloReply(
                version: chosen, frameBodyBytesMax: ProtocolFormat.frameBodyBytesMax, eventsPerRequestMax: Limits.batchEventsMax,
                inFlightMax: limits.inFlightMax, directoryID: limits.directoryID)
            write(context, Frame.encode(operation: header.operation, requestID: header.requestID, body: reply.encoded(), version: chosen))
        } catch let error as ProtocolError {
            reply(context, error, operation: header.operation, requestID: header.requestID)
        } catch {
            reply(context, ProtocolError(.internalError, "\(error)"), operation: header.operation, requestID: header.requestID)
        }
    }

    /// Submits a batch; replies once it is durable (or refused).
    private func submit(_ context: ChannelHandlerContext, _ header: FrameHeader, _ batch: EventBatch) {
        inFlight += 1
        metrics.requestStarted()
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let started = DispatchTime.now().uptimeNanoseconds
        let metrics = self.metrics
        let telemetry = self.telemetry
        coalescer.enqueue(batch) { result in
            // On this connection's event loop.
            let latencyNs = DispatchTime.now().uptimeNanoseconds - started
            if case .success(let committed) = result { telemetry.requestCommitted(committed.results, latencyNs: latencyNs) }
            let (handler, context) = bound.value
            handler.inFlight -= 1
            defer { metrics.requestAnswered() }
            switch result {
            case .success(let committed):
                let body =
                    handler.version >= ProtocolFormat.readYourWritesVersion
                    ? CommittedResultsBody.encode(committed.results, lsn: committed.lsn) : ResultsBody.encode(committed.results)
                handler.write(context, Frame.encode(operation: header.operation, requestID: header.requestID, body: body, version: handler.version))
            case .failure(let error):
                handler.reply(context, Self.protocolError(error), operation: header.operation, requestID: header.requestID)
            }
        }
    }

    /// Backpressure for slow readers: while replies wait beyond the write
    /// buffer's high-water mark, the connection's requests are not read, so
    /// a client that sends without reading holds at most the water mark
    /// plus `inFlightMax` replies in server memory.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        if !writable { telemetry.backpressurePaused() }
        context.channel.setOption(.autoRead, value: writable).whenComplete { _ in
            if writable { context.read() }
        }
        context.fireChannelWritabilityChanged()
    }

    /// The reply status for an engine error.
    static func protocolError(_ error: any Error) -> ProtocolError {
        guard let error = error as? LedgerError else { return ProtocolError(.internalError, "\(error)") }
        switch error.code {
        case .queueFull: return ProtocolError(.busy, error.message)
        case .notPrimary: return ProtocolError(.notPrimary, error.message)
        case .notReplicated: return ProtocolError(.notReplicated, error.message)
        case .malformedBatch, .batchTooLarge, .invalidInput: return ProtocolError(.malformedBody, error.message)
        case .stopped, .syncFailed, .io, .noSpace, .corruption: return ProtocolError(.engineStopped, error.message)
        default: return ProtocolError(.internalError, error.description)
        }
    }

    func reply(_ context: ChannelHandlerContext, _ error: ProtocolError, operation: UInt16, requestID: UInt64) {
        telemetry.refused(error.status)
        write(context, Frame.error(error, operation: operation, requestID: requestID, version: version))
        // shuttingDown: the stop closes every connection once the accepted
        // requests are answered; closing here would lose those replies.
        if error.status.closesConnection && error.status != .shuttingDown {
            logger.info("closing connection", metadata: ["status": "\(error.status)", "reason": "\(error.message)"])
            context.close(promise: nil)
        }
    }

    func write(_ context: ChannelHandlerContext, _ bytes: [UInt8]) {
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: bytes)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        replication?.stop()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A base backup's client only reads (for as long as the image takes);
        // a standby's stream sends status every second, so it is never idle.
        if event is IdleStateHandler.IdleStateEvent && replicationStarting && replication == nil { return }
        if event is IdleStateHandler.IdleStateEvent {
            logger.debug("closing an idle connection")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
