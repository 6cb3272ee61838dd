// Limits and counters shared by every connection.
import Dispatch
import LedgerEngine
import LedgerProtocol

struct ServerLimits: Sendable {
    var maxConnections: Int
    var inFlightMax: Int
    var idleTimeoutSeconds: Int64
    var directoryID: [UInt8]
}

/// Counters read by `status` (and, later, the Prometheus endpoint).
final class ServerMetrics: @unchecked Sendable {
    private let lock = ConditionLock()
    private let startedNs = DispatchTime.now().uptimeNanoseconds
    private var connectionCount = 0
    private var committedEvents = 0
    private var rejections: [ProtocolStatus: Int] = [:]

    var uptimeNs: UInt64 { DispatchTime.now().uptimeNanoseconds - startedNs }
    var connections: Int { lock.withLock { connectionCount } }

    /// Admits a connection unless `max` are open.
    func admitConnection(max: Int) -> Bool {
        lock.withLock {
            guard connectionCount < max else { return false }
            connectionCount += 1
            return true
        }
    }

    func connectionClosed() { lock.withLock { connectionCount -= 1 } }

    func observeCommit(events: Int, latencyNs: UInt64) { lock.withLock { committedEvents += events } }

    private var backpressureEvents = 0
    /// A connection's replies passed the write buffer's high-water mark.
    func countBackpressure() { lock.withLock { backpressureEvents += 1 } }
    var backpressureCount: Int { lock.withLock { backpressureEvents } }

    func count(rejection status: ProtocolStatus) { lock.withLock { rejections[status, default: 0] += 1 } }

    func rejectionCount(_ status: ProtocolStatus) -> Int { lock.withLock { rejections[status, default: 0] } }
}
