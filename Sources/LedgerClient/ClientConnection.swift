// One TCP connection to a LedgerServer: frames out, replies matched to their
// requests by id (replies may arrive in any order). Owned by LedgerClient,
// which decides what to send and what to retry.
//
// Invariants: `pending` is touched only on the channel's event loop; every
// pending promise is completed exactly once — by its reply, or with
// `connectionClosed` when the channel goes inactive.
import LedgerProtocol
import NIOCore
import NIOPosix
import NIOSSL

final class ClientConnection: @unchecked Sendable {
    let channel: Channel
    private let handler: ReplyRouter
    /// The protocol version of request frames: 1 until `hello` agrees on
    /// one (set once, before the connection is shared).
    private(set) var version = ProtocolFormat.version

    private init(channel: Channel, handler: ReplyRouter) {
        self.channel = channel
        self.handler = handler
    }

    static func connect(group: EventLoopGroup, host: String, port: Int, connectTimeoutMs: Int64, tls: LedgerClientTLS?) async throws -> ClientConnection {
        let router = ReplyRouter()
        let tlsContext = try tls.map { tls in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            if let path = tls.trustRootsPEMPath { configuration.trustRoots = .file(path) }
            // SNI takes names, not addresses: an IP host without a name is sent no SNI.
            let isAddress = host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
            return (try NIOSSLContext(configuration: configuration), tls.serverHostname ?? (isAddress ? nil : host))
        }
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(connectTimeoutMs))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let (context, hostname): (NIOSSLContext, String?) = tlsContext {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: hostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(ReplyDecoder()))
                    try channel.pipeline.syncOperations.addHandler(router)
                }
            }
            .connect(host: host, port: port).get()
        return ClientConnection(channel: channel, handler: router)
    }

    /// Sends one request frame and waits for the reply with its id, or
    /// fails with `deadlineExceeded` at `deadline` (a late reply is dropped).
    func request(operation: ProtocolOperation, requestID: UInt64, body: [UInt8], deadline: ContinuousClock.Instant) async throws -> (
        header: FrameHeader, body: [UInt8]
    ) {
        let frame = Frame.encode(operation: operation.rawValue, requestID: requestID, body: body, version: version)
        let promise = channel.eventLoop.makePromise(of: ReplyFrame.self)
        let router = handler
        let channel = self.channel
        let remaining = deadline - ContinuousClock.now
        let remainingNs = max(0, remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000)
        channel.eventLoop.execute {
            router.register(requestID, promise)
            channel.writeAndFlush(channel.allocator.buffer(bytes: frame)).whenFailure { error in
                router.fail(requestID, error)
            }
            let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(remainingNs)) {
                router.abandon(requestID)
            }
            promise.futureResult.whenComplete { _ in timeout.cancel() }
        }
        let reply = try await promise.futureResult.get()
        return (reply.header, reply.body)
    }

    /// `hello` agreed on `version`: every later frame carries it.
    func agreed(on version: UInt16) {
        precondition(ProtocolFormat.versions.contains(version), "protocol version \(version)")
        self.version = version
    }

    var isActive: Bool { channel.isActive }

    func close() async {
        try? await channel.close().get()
    }
}

struct ReplyFrame: Sendable {
    var header: FrameHeader
    var body: [UInt8]
}

/// Cuts replies out of the stream; a reply whose header or body fails its
/// checksum means the stream cannot be trusted: the connection is closed.
struct ReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = ReplyFrame

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= ProtocolFormat.headerBytes else { return .needMoreData }
        let header = try buffer.withUnsafeReadableBytes { try FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<ProtocolFormat.headerBytes])) }
        guard buffer.readableBytes >= ProtocolFormat.headerBytes + header.bodyBytes else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: ProtocolFormat.headerBytes)
        let body = buffer.readBytes(length: header.bodyBytes)!
        try body.withUnsafeBytes { try header.checkBody($0) }
        context.fireChannelRead(wrapInboundOut(ReplyFrame(header: header, body: body)))
        return .continue
    }
}

/// Completes the promise registered for each reply's request id.
final class ReplyRouter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ReplyFrame
    private var pending: [UInt64: EventLoopPromise<ReplyFrame>] = [:]
    private var closed = false

    func register(_ requestID: UInt64, _ promise: EventLoopPromise<ReplyFrame>) {
        guard !closed else { return promise.fail(LedgerClientError.connectionClosed) }
        precondition(pending[requestID] == nil, "request id \(requestID) reused while in flight")
        pending[requestID] = promise
    }

    /// Abandoned ids whose late replies are dropped (bounded: the oldest are
    /// forgotten first; a reply older than that closes the connection).
    private var abandoned: Set<UInt64> = []
    private var abandonedOrder: [UInt64] = []
    private static let abandonedMax = 4_096

    func fail(_ requestID: UInt64, _ error: any Error) {
        pending.removeValue(forKey: requestID)?.fail(error)
    }

    /// The deadline passed: the caller stops waiting; a late reply is dropped.
    func abandon(_ requestID: UInt64) {
        guard let promise = pending.removeValue(forKey: requestID) else { return }
        abandoned.insert(requestID)
        abandonedOrder.append(requestID)
        if abandonedOrder.count > Self.abandonedMax { abandoned.remove(abandonedOrder.removeFirst()) }
        promise.fail(LedgerClientError.deadlineExceeded)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        if abandoned.remove(reply.header.requestID) != nil { return }
        guard let promise = pending.removeValue(forKey: reply.header.requestID) else {
            // A reply to nothing we asked: the server or the stream is wrong.
            context.fireErrorCaught(LedgerClientError.protocolViolation("reply to unknown request id \(reply.header.requestID)"))
            return
        }
        promise.succeed(reply)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        let waiting = pending
        pending = [:]
        for (_, promise) in waiting { promise.fail(LedgerClientError.connectionClosed) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
