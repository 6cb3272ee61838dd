// The TCP listener: one pipeline per connection (idle timeout, frame
// decoder with a bounded buffer, connection handler), a connection limit,
// and a graceful stop.
import LedgerEngine
import LedgerProtocol
import Logging
import NIOCore
import NIOPosix

final class LedgerTCPServer: @unchecked Sendable {
    let ledger: Ledger
    let group: MultiThreadedEventLoopGroup
    let metrics = ServerMetrics()
    let rateLimiter = RateLimiter()
    private(set) var channel: Channel?
    private let logger: Logger

    init(ledger: Ledger, logger: Logger, threads: Int = System.coreCount) {
        self.ledger = ledger
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    /// Binds and starts accepting; returns the bound port (0 asks for any).
    func start(host: String, port: Int, keys: APIKeys, limits: ServerLimits) throws -> Int {
        let metrics = self.metrics
        let rateLimiter = self.rateLimiter
        let ledger = self.ledger
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Replies beyond 1 MiB unsent stop reading that connection (ConnectionHandler.channelWritabilityChanged).
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                guard metrics.admitConnection(max: limits.maxConnections) else {
                    logger.warning("refusing a connection: \(limits.maxConnections) are open")
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in metrics.connectionClosed() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(limits.idleTimeoutSeconds)))
                    // A frame is buffered whole before it is handled; the
                    // decoder refuses larger ones from their header.
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(), maximumBufferSize: ProtocolFormat.headerBytes + ProtocolFormat.frameBodyBytesMax + 65_536))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(ledger: ledger, keys: keys, limits: limits, metrics: metrics, rateLimiter: rateLimiter, logger: logger))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        self.channel = channel
        return channel.localAddress?.port ?? port
    }

    /// Stops accepting, closes the connections, closes the engine (which
    /// finishes the batches it holds and checkpoints).
    func stop() throws {
        try channel?.close().wait()
        try group.syncShutdownGracefully()
        try ledger.close()
    }
}
