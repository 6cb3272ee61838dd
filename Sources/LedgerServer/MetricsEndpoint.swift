// Metrics (swift-metrics, exported by swift-prometheus) and the loopback
// HTTP endpoint that serves them in Prometheus text format: GET /metrics.
//
// What is measured (names as exported):
// - ledger_events_committed_total: events made durable (rate() of it is
//   entries/s); ledger_requests_committed_total;
// - ledger_engine_batches_total: engine batches the requests were joined
//   into (SubmissionCoalescer); fewer than requests under concurrency;
// - ledger_request_events: events per createAccounts/submitEntries request
//   (histogram); ledger_group_events: events per WAL group (one fdatasync);
// - ledger_wal_fdatasync_seconds: the WAL fdatasync latency (histogram);
// - ledger_request_commit_seconds: a request from its arrival to durable;
// - ledger_queue_depth_batches, ledger_connections (gauges, set at scrape);
// - ledger_event_rejections_total{result="..."}: events refused, by result
//   code; ledger_events_existing_total: idempotent retries (`exists`), apart;
// - ledger_request_refusals_total{status="..."}: requests refused, by status;
// - ledger_backpressure_pauses_total: times a connection was not read because
//   its unsent replies passed the write buffer's high-water mark;
// - build information and the directory's gauges (MetricsHelp.swift), and
//   the replication gauges (ReplicationRegistry.swift).
// GET /healthz and /readyz answer probes (HealthCheck below).
import Dispatch
import LedgerEngine
import LedgerProtocol
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

final class ServerTelemetry: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let lock = ConditionLock()
    /// Counters with a label made on first use, by label and dimension value.
    private var labelledCounters: [String: Metrics.Counter] = [:]
    let eventsCommitted: Metrics.Counter
    let requestsCommitted: Metrics.Counter
    let engineBatches: Metrics.Counter
    let backpressurePauses: Metrics.Counter
    let eventsExisting: Metrics.Counter
    let requestEvents: Metrics.Recorder
    let groupEvents: Metrics.Recorder
    let fdatasync: Metrics.Timer
    let commitLatency: Metrics.Timer
    let queueDepth: Metrics.Gauge
    let connections: Metrics.Gauge
    private let factory: PrometheusMetricsFactory

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let eventBuckets: [Double] = [1, 2, 8, 32, 128, 512, 2_048, 8_189, 16_384, 65_536]
        factory.valueHistogramBuckets = ["ledger_request_events": eventBuckets, "ledger_group_events": eventBuckets]
        let latencyBuckets: [Duration] = [50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 100_000, 1_000_000].map { .microseconds($0) }
        factory.durationHistogramBuckets = ["ledger_wal_fdatasync_seconds": latencyBuckets, "ledger_request_commit_seconds": latencyBuckets]
        self.factory = factory
        // Handles made with an explicit factory: no global bootstrap, so
        // tests and a second server in one process stay independent.
        eventsCommitted = Metrics.Counter(label: "ledger_events_committed_total", dimensions: [], factory: factory)
        requestsCommitted = Metrics.Counter(label: "ledger_requests_committed_total", dimensions: [], factory: factory)
        engineBatches = Metrics.Counter(label: "ledger_engine_batches_total", dimensions: [], factory: factory)
        backpressurePauses = Metrics.Counter(label: "ledger_backpressure_pauses_total", dimensions: [], factory: factory)
        eventsExisting = Metrics.Counter(label: "ledger_events_existing_total", dimensions: [], factory: factory)
        requestEvents = Metrics.Recorder(label: "ledger_request_events", dimensions: [], aggregate: true, factory: factory)
        groupEvents = Metrics.Recorder(label: "ledger_group_events", dimensions: [], aggregate: true, factory: factory)
        fdatasync = Metrics.Timer(label: "ledger_wal_fdatasync_seconds", dimensions: [], factory: factory)
        commitLatency = Metrics.Timer(label: "ledger_request_commit_seconds", dimensions: [], factory: factory)
        queueDepth = Metrics.Gauge(label: "ledger_queue_depth_batches", dimensions: [], factory: factory)
        connections = Metrics.Gauge(label: "ledger_connections", dimensions: [], factory: factory)
    }

    func groupCommitted(_ group: Ledger.GroupCommit) {
        groupEvents.record(group.events)
        fdatasync.recordNanoseconds(Int64(group.syncNs))
    }

    func requestCommitted(_ results: [ResultCode], latencyNs: UInt64) {
        eventsCommitted.increment(by: results.count)
        requestsCommitted.increment()
        requestEvents.record(results.count)
        commitLatency.recordNanoseconds(Int64(latencyNs))
        // `exists` is an idempotent retry of an applied event: not a failure.
        for result in results where result != .ok {
            if result == .exists { eventsExisting.increment() } else { rejectionCounter(result).increment() }
        }
    }

    func engineBatchSubmitted() { engineBatches.increment() }

    /// Scheduled archival (ScheduledArchival.swift).
    func monthArchived(segmentBytes: Int, archiveBytes: Int) {
        counter("ledger_archived_months_total", nil).increment()
        counter("ledger_archive_bytes_total", ("direction", "in")).increment(by: segmentBytes)
        counter("ledger_archive_bytes_total", ("direction", "out")).increment(by: archiveBytes)
    }

    func archivalFailed() { counter("ledger_archive_failures_total", nil).increment() }

    func refused(_ status: ProtocolStatus) { refusalCounter(status).increment() }

    func backpressurePaused() { backpressurePauses.increment() }

    private func rejectionCounter(_ result: ResultCode) -> Metrics.Counter {
        counter("ledger_event_rejections_total", ("result", "\(result)"))
    }

    private func refusalCounter(_ status: ProtocolStatus) -> Metrics.Counter {
        counter("ledger_request_refusals_total", ("status", "\(status)"))
    }

    private func counter(_ label: String, _ dimension: (String, String)?) -> Metrics.Counter {
        lock.withLock {
            let key = label + "\u{0}" + (dimension?.1 ?? "")
            if let counter = labelledCounters[key] { return counter }
            let counter = Metrics.Counter(label: label, dimensions: dimension.map { [$0] } ?? [], factory: factory)
            labelledCounters[key] = counter
            return counter
        }
    }

    /// The text exposition, with the gauges read now.
    func scrape(ledger: Ledger, metrics: ServerMetrics) -> [UInt8] {
        queueDepth.record(ledger.queueDepthBatches)
        connections.record(metrics.connections)
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        let text = MetricsHelp.annotate(buffer) + MetricsHelp.directoryGauges(ledger: ledger) + metrics.replication.exposition(ledger: ledger)
        return Array(text.utf8)
    }
}

/// GET /metrics on a loopback port; anything else is 404. One request per
/// connection is enough for a scraper; bodies are small.
final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let scrape: @Sendable () -> [UInt8]
    private let health: HealthCheck?
    private var path: String?

    init(scrape: @escaping @Sendable () -> [UInt8], health: HealthCheck?) {
        self.scrape = scrape
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.method == .GET ? head.uri : nil
        case .body:
            break
        case .end:
            let metrics = path == "/metrics"
            let probe = path.flatMap { health?.answer($0) }
            let body = metrics ? scrape() : probe.map { Array(($0.line + "\n").utf8) } ?? Array("not found; try /metrics, /healthz or /readyz\n".utf8)
            let status: HTTPResponseStatus = metrics ? .ok : probe.map { $0.ok ? .ok : .serviceUnavailable } ?? .notFound
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: metrics ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: "\(body.count)")
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }
}

enum MetricsEndpoint {
    /// Binds the endpoint; returns its channel (closed at stop) and port.
    static func start(
        group: EventLoopGroup, host: String, port: Int, health: HealthCheck? = nil, scrape: @escaping @Sendable () -> [UInt8]
    ) throws -> (Channel, Int) {
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(scrape: scrape, health: health))
                }
            }
            .bind(host: host, port: port).wait()
        return (channel, channel.localAddress?.port ?? port)
    }
}
