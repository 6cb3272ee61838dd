// The TCP listener: one pipeline per connection (idle timeout, frame
// decoder with a bounded buffer, connection handler), a connection limit,
// and a graceful stop.
import LedgerEngine
import LedgerProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL

final class LedgerTCPServer: @unchecked Sendable {
    let ledger: Ledger
    let group: MultiThreadedEventLoopGroup
    let metrics = ServerMetrics()
    let telemetry: ServerTelemetry
    let rateLimiter = RateLimiter()
    private(set) var channel: Channel?
    private let logger: Logger

    private var metricsChannel: Channel?

    init(ledger: Ledger, telemetry: ServerTelemetry, logger: Logger, threads: Int = System.coreCount) {
        self.ledger = ledger
        self.telemetry = telemetry
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    /// Binds and starts accepting; returns the bound port (0 asks for any).
    /// With `tls`, every connection speaks TLS first (NIOSSLServerHandler).
    func start(host: String, port: Int, keys: APIKeys, limits: ServerLimits, tls: NIOSSLContext? = nil) throws -> Int {
        let metrics = self.metrics
        let telemetry = self.telemetry
        let rateLimiter = self.rateLimiter
        let ledger = self.ledger
        let logger = self.logger
        // One coalescer per event loop (SubmissionCoalescer.swift).
        var coalescers: [ObjectIdentifier: SubmissionCoalescer] = [:]
        for loop in group.makeIterator() { coalescers[ObjectIdentifier(loop)] = SubmissionCoalescer(loop: loop, ledger: ledger, telemetry: telemetry) }
        let coalescerOf = coalescers
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
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(limits.idleTimeoutSeconds)))
                    // A frame is buffered whole before it is handled; the
                    // decoder refuses larger ones from their header.
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(), maximumBufferSize: ProtocolFormat.headerBytes + ProtocolFormat.frameBodyBytesMax + 65_536))
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectionHandler(
                            ledger: ledger, coalescer: coalescerOf[ObjectIdentifier(channel.eventLoop)]!, keys: keys, limits: limits, metrics: metrics,
                            telemetry: telemetry, rateLimiter: rateLimiter, logger: logger))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        self.channel = channel
        return channel.localAddress?.port ?? port
    }

    /// Serves GET /metrics, /healthz and /readyz on `host:port`; returns the bound port.
    func startMetrics(host: String, port: Int, readyMaxLagRecords: UInt64) throws -> Int {
        let ledger = self.ledger
        let metrics = self.metrics
        let telemetry = self.telemetry
        let health = HealthCheck(ledger: ledger, metrics: metrics, readyMaxLagRecords: readyMaxLagRecords)
        let (channel, bound) = try MetricsEndpoint.start(group: group, host: host, port: port, health: health) {
            telemetry.scrape(ledger: ledger, metrics: metrics)
        }
        metricsChannel = channel
        return bound
    }

    /// Stops accepting; refuses new requests with `shuttingDown` and waits
    /// (up to 10 s) for the accepted ones to be answered; closes the
    /// connections; closes the engine (which finishes the batches it holds
    /// and checkpoints).
    func stop() throws {
        try metricsChannel?.close().wait()
        try channel?.close().wait()
        let unanswered = metrics.beginStopAndDrain(timeoutNs: 10_000_000_000)
        if unanswered > 0 { logger.warning("stopping with \(unanswered) requests unanswered after 10 s") }
        try group.syncShutdownGracefully()
        try ledger.close()
    }
}
