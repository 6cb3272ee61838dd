// Limits and counters shared by every connection.
import Dispatch
import LedgerEngine
import LedgerProtocol

struct ServerLimits: Sendable {
    var maxConnections: Int
    var inFlightMax: Int
    var idleTimeoutSeconds: Int64
    var directoryID: [UInt8]
    /// On a standby: its primary (`host:port`), the body of `notPrimary`.
    var primaryAddress: String? = nil
}

/// What every connection shares: the connection count, the requests in
/// flight and the stop (read by `status`, the metrics scrape and `stop`).
/// Counts for monitoring are in ServerTelemetry.
final class ServerMetrics: @unchecked Sendable {
    private let lock = ConditionLock()
    private let startedNs = DispatchTime.now().uptimeNanoseconds
    /// The standbys streaming from this server, or its own stream on a standby.
    let replication = ReplicationRegistry()
    /// Operator jobs started over `admin` (one at a time).
    let adminJobs = AdminJobs()
    private var connectionCount = 0

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

    // Requests accepted and not yet answered, over all connections; the
    // stop waits for them so their replies are not lost.
    private var requestsInFlight = 0
    private var stopping = false
    func requestStarted() { lock.withLock { requestsInFlight += 1 } }
    func requestAnswered() {
        lock.withLock {
            requestsInFlight -= 1
            lock.broadcast()
        }
    }
    var isStopping: Bool { lock.withLock { stopping } }

    /// From now on requests are refused with `shuttingDown`; waits until
    /// those accepted are answered, or `timeoutNs` passed. Returns how many
    /// were still unanswered.
    func beginStopAndDrain(timeoutNs: UInt64) -> Int {
        let deadline = DispatchTime.now().uptimeNanoseconds + timeoutNs
        return lock.withLock {
            stopping = true
            while requestsInFlight > 0 && DispatchTime.now().uptimeNanoseconds < deadline {
                lock.wait(timeoutNs: min(10_000_000, deadline - DispatchTime.now().uptimeNanoseconds))
            }
            return requestsInFlight
        }
    }

}
