// A `replicate` request on a connection (Specs/replication.md, checks 1-6):
// the role was checked before dispatch; here, that this server is a
// primary, the timeline, and the engine's decision on the standby's
// history. Accepted, the connection becomes a replication connection whose
// stream a `ReplicationSender` writes; refused, the terminal status is the
// only reply and the connection closes (`diverged`, `needBaseBackup`) or
// stays open (`notPrimary`).
import LedgerEngine
import LedgerProtocol
import NIOCore

extension ConnectionHandler {
    var isReplicationConnection: Bool { replication != nil || replicationStarting }

    /// After `replicate` or `baseBackup`, a connection carries nothing else
    /// but `standbyStatus`.
    func refuseOnReplicationConnection(_ context: ChannelHandlerContext, _ header: FrameHeader) {
        let error = ProtocolError(.malformedBody, "a replication connection carries only standbyStatus after replicate")
        reply(context, error, operation: header.operation, requestID: header.requestID)
        context.close(promise: nil)
    }

    func handleReplication(_ context: ChannelHandlerContext, _ header: FrameHeader, _ operation: ProtocolOperation, _ body: [UInt8]) throws {
        switch operation {
        case .replicate:
            try startReplication(context, header, try ReplicateRequest.decode(body))
        case .standbyStatus:
            guard let replication, header.requestID == replicationRequestID else {
                throw ProtocolError(.malformedBody, "standbyStatus outside a replication stream")
            }
            replication.standbyReported(try StandbyStatus.decode(body))
        case .baseBackup:
            guard body.isEmpty else { throw ProtocolError(.malformedBody, "baseBackup takes an empty body") }
            try startBaseBackup(context, header)
        default:
            preconditionFailure("\(operation) is not a replication operation")
        }
    }

    func startReplication(_ context: ChannelHandlerContext, _ header: FrameHeader, _ request: ReplicateRequest) throws {
        guard !ledger.isStandby else { throw ProtocolError(.notPrimary, "this server is a standby; replicate from its primary") }
        let keyID = authenticatedKey ?? "?"
        if let slot = ledger.slot(keyID), slot.invalidated {
            throw ProtocolError(
                .needBaseBackup,
                "the replication slot of key '\(keyID)' was invalidated (it passed --max-slot-wal-keep-mib at LSN \(slot.lsn)); take a new base backup")
        }
        replicationStarting = true
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let ledger = self.ledger
        let logger = self.logger
        Self.readQueue.async {
            let decision = Result { () throws -> ReplicationStart in
                var start = try ledger.replicationStart(
                    standbyTimeline: request.timeline, standbyDirectoryID: request.directoryID, standbyLastLSN: request.lastDurableLSN,
                    standbyChainValue: request.chainValue)
                // A standby streaming under a key without a slot gets one.
                if case .stream(let fromLSN) = start, ledger.slot(keyID) == nil { try ledger.createSlot(keyID, lsn: fromLSN - 1) }
                // A standby promoted past this primary: fence it before answering.
                if case .newerTimeline(let newer) = start {
                    try ledger.supersede(byTimeline: newer)
                    start = .diverged(
                        "the standby is on timeline \(newer), newer than this primary's \(ledger.timeline): this primary was superseded and takes no more writes"
                    )
                }
                return start
            }
            loop.execute {
                let (handler, context) = bound.value
                switch decision {
                case .success(.stream) where !context.channel.isActive:
                    return  // the standby left meanwhile
                case .success(.stream(let fromLSN)):
                    logger.info("replication: streaming to a standby", metadata: ["key": "\(keyID)", "fromLSN": "\(fromLSN)"])
                    let sender = ReplicationSender(
                        ledger: ledger, channel: context.channel, requestID: header.requestID, keyID: keyID, fromLSN: fromLSN,
                        registry: handler.metrics.replication, logger: logger)
                    handler.replicationRequestID = header.requestID
                    handler.replication = sender
                    sender.start()
                case .success(.diverged(let why)):
                    handler.refuseReplication(context, ProtocolError(.diverged, why), header)
                case .success(.newerTimeline):
                    preconditionFailure("answered as diverged above")
                case .success(.needBaseBackup(let why)):
                    handler.refuseReplication(context, ProtocolError(.needBaseBackup, why), header)
                case .failure(let error):
                    handler.refuseReplication(context, Self.protocolError(error), header)
                }
            }
        }
    }

    private func refuseReplication(_ context: ChannelHandlerContext, _ error: ProtocolError, _ header: FrameHeader) {
        logger.warning("replication: refused a standby", metadata: ["status": "\(error.status)", "reason": "\(error.message)"])
        reply(context, error, operation: header.operation, requestID: header.requestID)
        context.close(promise: nil)
    }
}
