// A standby's connection to its primary (Specs/replication.md, "States of
// a standby"): `connecting` (retries with back-off) → `streaming` →
// `stopped(reason)`. On its own thread, with a blocking socket: hello with
// the replication key, `replicate` with this directory's position, then
// frames in; the messages received together (up to 8 MiB) are mirrored and
// applied by the engine (`Ledger.receive`: durable before it returns), and
// only then is `standbyStatus` sent with the new durable LSN. A status also
// answers every heartbeat that asks for one, and goes out at least every
// second.
//
// A terminal status that needs an operator (`diverged`, `needBaseBackup`,
// `forbidden`, `unauthenticated`) or a local failure of the engine (a
// record that fails its checks, a failed fdatasync) stops the receiver for
// good, with a log line that says why; the standby keeps serving reads.
// Anything else (the primary restarting, a network error, silence past
// the read timeout) goes back to `connecting`.
import Dispatch
import LedgerEngine
import LedgerProtocol
import LedgerStream
import Logging

final class StandbyReceiver: @unchecked Sendable {
    enum State: Equatable, Sendable {
        case connecting
        case streaming
        case stopped(String)
    }

    struct Primary: Sendable {
        var host: String
        var port: Int
        var keyID: String
        var secret: [UInt8]
    }

    private let ledger: Ledger
    private let primary: Primary
    private let logger: Logger
    private let condition = ConditionLock()
    // Guarded by `condition`.
    private var currentState = State.connecting
    private var stopping = false
    private var socket: BlockingSocket?
    private var primaryDurable: UInt64 = 0
    private var appliedRecords: UInt64 = 0

    /// Silence from the primary longer than this (it heartbeats every
    /// second) ends the connection; the receiver reconnects.
    static let readTimeoutMs = 5_000
    static let receiveBytesMax = 8 << 20
    static let statusIntervalNs: UInt64 = 1_000_000_000
    private static let requestID: UInt64 = 1

    init(ledger: Ledger, primary: Primary, logger: Logger) {
        self.ledger = ledger
        self.primary = primary
        self.logger = logger
    }

    var state: State { condition.withLock { currentState } }
    /// For the metrics: streaming or not, the primary's durable LSN as its
    /// last heartbeat said, and the records applied since start.
    var progress: (streaming: Bool, primaryDurableLSN: UInt64, appliedRecords: UInt64) {
        condition.withLock { (currentState == .streaming, primaryDurable, appliedRecords) }
    }

    func start() { Thread { [self] in self.run() }.startDetached() }

    func stop() {
        condition.withLock {
            stopping = true
            socket?.shutDown()
            condition.broadcast()
        }
    }

    private func run() {
        var backoffMs = 100
        while !condition.withLock({ stopping }) {
            do {
                try connectAndStream()
            } catch let terminal as StreamRefused where terminal.needsOperator {
                return halt("the primary refused this standby (\(terminal.status.map { "\($0)" } ?? "?")): \(terminal.message)")
            } catch let error as LedgerError {
                return halt("the engine refused the stream: \(error)")
            } catch {
                logger.warning("replication: connection to the primary lost; reconnecting", metadata: ["error": "\(error)"])
            }
            condition.withLock {
                if case .streaming = currentState { backoffMs = 100 }
                currentState = .connecting
                socket = nil
                if !stopping { condition.wait(timeoutNs: UInt64(backoffMs) * 1_000_000) }
            }
            backoffMs = min(backoffMs * 2, 5_000)
        }
    }

    private func halt(_ reason: String) {
        logger.error("replication: standby stopped; an operator must act", metadata: ["reason": "\(reason)"])
        condition.withLock {
            currentState = .stopped(reason)
            socket = nil
        }
    }

    private func connectAndStream() throws {
        let connection = try StreamConnection(
            host: primary.host, port: primary.port, keyID: primary.keyID, secret: primary.secret, timeoutMs: Self.readTimeoutMs)
        let proceed = condition.withLock {
            socket = connection.socket
            return !stopping
        }
        guard proceed else { return }
        let position = try ledger.replicationPosition()
        let request = ReplicateRequest(
            directoryID: position.directoryID, timeline: position.timeline, lastDurableLSN: position.lastLSN, chainValue: position.chainValue)
        try connection.send(operation: .replicate, requestID: Self.requestID, body: request.encoded())
        logger.info("replication: connected to the primary", metadata: ["primary": "\(primary.host):\(primary.port)", "fromLSN": "\(position.lastLSN + 1)"])
        try stream(connection)
    }

    private func stream(_ connection: StreamConnection) throws {
        var lastStatusNs: UInt64 = 0
        while !condition.withLock({ stopping }) {
            var messages: [WALShipper.Message] = []
            var replyRequested = false
            var bytes = 0
            repeat {
                let body = try connection.readFrame(bodyBytesMax: ProtocolFormat.replicationFrameBodyBytesMax).body
                bytes += body.count
                switch try ReplicationMessage.decode(body) {
                case .walFile(let header): messages.append(.walFile(header: header))
                case .walRecords(let firstLSN, let offset, let records):
                    guard offset <= UInt64(Int.max) else { throw StreamRefused(status: nil, message: "record offset \(offset)") }
                    messages.append(.walRecords(firstLSN: firstLSN, offset: Int(offset), bytes: records))
                case .heartbeat(let durableLSN, _, let reply):
                    condition.withLock { primaryDurable = max(primaryDurable, durableLSN) }
                    replyRequested = replyRequested || reply
                case .backupStart, .backupFile, .backupData, .backupEnd:
                    throw StreamRefused(status: nil, message: "a base backup message in a replication stream")
                }
            } while bytes < Self.receiveBytesMax && connection.socket.hasBytesReady()
            condition.withLock { if currentState == .connecting { currentState = .streaming } }
            let before = ledger.lastLSN.current
            let applied = messages.isEmpty ? before : try ledger.receive(messages)
            condition.withLock {
                appliedRecords += applied - before
                primaryDurable = max(primaryDurable, applied)
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if !messages.isEmpty || replyRequested || now - lastStatusNs >= Self.statusIntervalNs {
                let status = StandbyStatus(durableLSN: applied, appliedLSN: applied, clockNs: wallClockNs())
                try connection.send(operation: .standbyStatus, requestID: Self.requestID, body: status.encoded())
                lastStatusNs = now
            }
        }
    }
}

extension StreamRefused {
    /// Statuses no retry can fix.
    var needsOperator: Bool {
        switch status {
        case .diverged, .needBaseBackup, .forbidden, .unauthenticated, .unsupportedVersion: true
        default: false
        }
    }
}
