import Dispatch
import LedgerEngine
import LedgerProtocol
import Logging
import NIOCore

// The primary's side of one replication connection (Specs/replication.md):
// after the handshake accepted a standby, a thread of its own reads the WAL
// from the standby's next LSN (WALShipper: only durable records, byte for
// byte) and writes them as stream frames; live once it has caught up
// (it waits on the ledger's durable LSN).
//
// Bounded: at most `replicationWindowBytes` of records are sent beyond the
// durable LSN the standby acknowledged; then the thread waits for
// `standbyStatus`. A standby that falls behind stays behind on this
// primary's disk, never in its memory. Heartbeats (reply requested) go out
// after a second without records, so the standby's status keeps coming and
// the lag stays known.
#if canImport(Glibc)
    import Glibc
#endif

final class ReplicationSender: @unchecked Sendable {
    private let ledger: Ledger
    private let channel: any Channel
    private let requestID: UInt64
    let keyID: String
    private let logger: Logger
    private let registry: ReplicationRegistry
    private let condition = ConditionLock()
    // Guarded by `condition`.
    private var acknowledged = StandbyStatus(durableLSN: 0, appliedLSN: 0, clockNs: 0)
    private var stopped = false
    private var sentLSN: UInt64
    /// Sent and not yet acknowledged durable: (last LSN of a message, its
    /// bytes, when it was sent).
    private var unacknowledged: [(lsn: UInt64, bytes: Int, sentNs: UInt64)] = []
    private var unacknowledgedBytes = 0
    private var shipper: WALShipper

    static let heartbeatIntervalNs: UInt64 = 1_000_000_000

    init(ledger: Ledger, channel: any Channel, requestID: UInt64, keyID: String, fromLSN: UInt64, registry: ReplicationRegistry, logger: Logger) {
        self.ledger = ledger
        self.channel = channel
        self.requestID = requestID
        self.keyID = keyID
        self.registry = registry
        self.logger = logger
        self.sentLSN = fromLSN - 1
        self.shipper = ledger.shipper(from: fromLSN)
        acknowledged.durableLSN = fromLSN - 1
        acknowledged.appliedLSN = fromLSN - 1
    }

    /// What the standby has reported, how far the stream has gone, the
    /// bytes sent beyond its durable LSN and how long the oldest of them
    /// has waited (0 when none wait).
    var progress: (sent: UInt64, standby: StandbyStatus, unacknowledgedBytes: Int, lagNs: UInt64) {
        condition.withLock {
            let oldest = unacknowledged.first.map { DispatchTime.now().uptimeNanoseconds - $0.sentNs } ?? 0
            return (sentLSN, acknowledged, unacknowledgedBytes, oldest)
        }
    }

    /// Counts the standby (synchronous commit, metrics) and starts the thread.
    func start() {
        registry.added(self)
        ledger.standbyAcknowledged(keyID, durableLSN: acknowledged.durableLSN)
        Thread { [self] in self.run() }.startDetached()
    }

    /// The connection closed or the server stops: the thread ends and the
    /// standby no longer counts.
    func stop() {
        let first = condition.withLock {
            defer {
                stopped = true
                condition.broadcast()
            }
            return !stopped
        }
        guard first else { return }
        ledger.standbyDisconnected(keyID)
        registry.removed(self)
    }

    /// A `standbyStatus` arrived: frees the window up to its durable LSN.
    func standbyReported(_ status: StandbyStatus) {
        condition.withLock {
            guard status.durableLSN >= acknowledged.durableLSN, status.durableLSN <= sentLSN, status.appliedLSN <= status.durableLSN else { return }
            acknowledged = status
            while let first = unacknowledged.first, first.lsn <= status.durableLSN {
                unacknowledgedBytes -= first.bytes
                unacknowledged.removeFirst()
            }
            condition.broadcast()
        }
        ledger.standbyAcknowledged(keyID, durableLSN: status.durableLSN)
    }

    private var isStopped: Bool { condition.withLock { stopped } }

    private func run() {
        var lastSentNs = DispatchTime.now().uptimeNanoseconds
        while !isStopped {
            do {
                if try sendDue() {
                    lastSentNs = DispatchTime.now().uptimeNanoseconds
                    continue
                }
            } catch let error as LedgerError where error.code == .notInitialized {
                return end(ProtocolError(.needBaseBackup, error.message))
            } catch {
                logger.error("replication: reading the WAL failed", metadata: ["error": "\(error)"])
                return end(ProtocolError(.internalError, "reading the WAL failed: \(error)"))
            }
            if ledger.lastLSN.isClosed {
                return end(ProtocolError(.shuttingDown, "the primary's engine closed or stopped; reconnect to its successor"))
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if now - lastSentNs >= Self.heartbeatIntervalNs {
                send(.heartbeat(durableLSN: ledger.lastLSN.current, clockNs: wallClockNs(), replyRequested: true))
                lastSentNs = now
            }
            waitForWork(untilNs: lastSentNs + Self.heartbeatIntervalNs)
        }
    }

    /// Sends what is durable and fits the window; false when nothing was due.
    private func sendDue() throws -> Bool {
        let room = condition.withLock { ProtocolFormat.replicationWindowBytes - unacknowledgedBytes }
        let durable = ledger.lastLSN.current
        guard room > 0, shipper.nextLSN <= durable else { return false }
        let messages = try shipper.next(throughLSN: durable, maxBytes: min(room, 4 << 20))
        for message in messages {
            send(ReplicationMessage(message))
            if case .walRecords(_, _, let bytes) = message {
                condition.withLock {
                    unacknowledged.append((shipper.nextLSN - 1, bytes.count, DispatchTime.now().uptimeNanoseconds))
                    unacknowledgedBytes += bytes.count
                    sentLSN = shipper.nextLSN - 1
                }
            }
        }
        return !messages.isEmpty
    }

    /// Waits for new durable records (when the window has room), an
    /// acknowledgment (when it has none), a stop, or the deadline.
    private func waitForWork(untilNs deadlineNs: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard deadlineNs > now else { return }
        let windowFull = condition.withLock { unacknowledgedBytes >= ProtocolFormat.replicationWindowBytes }
        if windowFull {
            condition.withLock {
                if !stopped && unacknowledgedBytes >= ProtocolFormat.replicationWindowBytes { condition.wait(timeoutNs: deadlineNs - now) }
            }
        } else {
            // Short slices, so a stop is seen within 100 ms.
            _ = ledger.lastLSN.wait(atLeast: shipper.nextLSN, timeoutNs: min(deadlineNs - now, 100_000_000))
        }
    }

    private func send(_ message: ReplicationMessage) {
        let frame = Frame.encode(
            operation: ProtocolOperation.replicate.rawValue, requestID: requestID, body: message.encoded(),
            bodyBytesMax: ProtocolFormat.replicationFrameBodyBytesMax)
        channel.writeAndFlush(channel.allocator.buffer(bytes: frame), promise: nil)
    }

    /// The terminal frame, then the connection closes.
    private func end(_ error: ProtocolError) {
        logger.warning("replication: ending the stream", metadata: ["status": "\(error.status)", "reason": "\(error.message)"])
        let frame = Frame.error(error, operation: ProtocolOperation.replicate.rawValue, requestID: requestID)
        let channel = self.channel
        channel.writeAndFlush(channel.allocator.buffer(bytes: frame)).whenComplete { _ in channel.close(promise: nil) }
        stop()
    }
}

func wallClockNs() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
