// Reads (operations 4–7 and `status`), served off the event loop. In
// protocol version 2 a read carries a minimum LSN (Specs/protocol.md,
// "Read-your-writes"): it is served once this node has that LSN (applied,
// on a standby; durable, on a primary), or answered `behind` when its wait
// runs out. A waiting read holds one of the connection's `inFlightMax`
// slots and a callback on the ledger's LSN watch, never a thread.
import Dispatch
import LedgerEngine
import LedgerProtocol
import NIOCore

extension ConnectionHandler {
    typealias ReadBody = @Sendable (Ledger) throws -> [UInt8]

    func read(_ context: ChannelHandlerContext, _ header: FrameHeader, _ operation: ProtocolOperation, _ body: [UInt8]) throws {
        var (consistency, body) = (ReadConsistency.none, body)
        if version >= ProtocolFormat.readYourWritesVersion { (consistency, body) = try ReadConsistency.split(body) }
        let serve = try Self.readBody(operation, body)  // decoded now: a malformed body is refused before any wait
        guard consistency.minLSN > ledger.lastLSN.current else { return query(context, header, serve) }
        guard consistency.waitMilliseconds > 0 else { throw behind(consistency, waitedMs: 0) }
        awaitLSN(context, header, consistency, then: serve)
    }

    /// Decodes a read's body; returns the read that makes its reply.
    private static func readBody(_ operation: ProtocolOperation, _ body: [UInt8]) throws -> ReadBody {
        switch operation {
        case .lookupAccounts:
            let ids = try IDListBody.decode(body)
            return { ledger in try ledger.read { machine in AccountListBody.encode(ids.map { machine.account(id: $0) }, ids: ids) } }
        case .lookupEntries:
            let ids = try IDListBody.decode(body)
            return { ledger in
                EntryListBody.encode(
                    try ids.map { id in try ledger.lookup(entryID: id).map { EntryListBody.Row(timestamp: $0.timestamp, lsn: $0.lsn, entry: $0.entry) } })
            }
        case .accountHistory:
            let q = try HistoryQuery.decode(body)
            return { ledger in
                HistoryPageBody.encode(try ledger.history(account: q.account, fromNs: q.fromNs, toNs: q.toNs, afterNs: q.afterNs, limit: q.limit))
            }
        case .balanceAsOf:
            let (account, asOfNs) = try BalanceBodies.decodeQuery(body)
            return { ledger in BalanceBodies.encodeBalances(try ledger.balance(account: account, asOfNs: asOfNs)) }
        default:
            preconditionFailure("\(operation) is not a read")
        }
    }

    private func behind(_ consistency: ReadConsistency, waitedMs: UInt64) -> ProtocolError {
        let role = ledger.isStandby ? "applied" : "durable"
        return ProtocolError(
            .behind, "this node has \(role) LSN \(ledger.lastLSN.current), the read asked for \(consistency.minLSN) (waited \(waitedMs) ms)")
    }

    /// Waits on the event loop's terms: the LSN watch calls back (from the
    /// engine's thread) when the LSN arrives, a timer fires at the deadline;
    /// whichever reaches the loop first answers, the other does nothing.
    private func awaitLSN(_ context: ChannelHandlerContext, _ header: FrameHeader, _ consistency: ReadConsistency, then serve: @escaping ReadBody) {
        inFlight += 1
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let wait = NIOLoopBoundBox(ReadWait(), eventLoop: loop)
        let startedNs = DispatchTime.now().uptimeNanoseconds
        let finish: (_ reached: Bool) -> Void = { reached in
            guard !wait.value.answered else { return }
            wait.value.answered = true
            wait.value.timer?.cancel()
            let (handler, context) = bound.value
            handler.inFlight -= 1
            if reached { return handler.query(context, header, serve) }
            let waitedMs = (DispatchTime.now().uptimeNanoseconds - startedNs) / 1_000_000
            handler.reply(context, handler.behind(consistency, waitedMs: waitedMs), operation: header.operation, requestID: header.requestID)
        }
        let watch = ledger.lastLSN
        let answer = NIOLoopBound(finish, eventLoop: loop)
        // A closed watch (the engine stopped) also calls back: the read then
        // fails with the stop's reason.
        guard let token = watch.whenReached(consistency.minLSN, { _ in loop.execute { answer.value(true) } }) else { return finish(true) }
        wait.value.timer = loop.scheduleTask(in: .milliseconds(Int64(consistency.waitMilliseconds))) {
            _ = watch.cancel(token)
            answer.value(watch.current >= consistency.minLSN)
        }
    }

    /// Runs a query of durable state off the event loop (engine reads
    /// block until the apply thread answers) and replies with its body.
    func query(_ context: ChannelHandlerContext, _ header: FrameHeader, _ body: @escaping ReadBody) {
        inFlight += 1
        metrics.requestStarted()
        let metrics = self.metrics
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let ledger = self.ledger
        Self.readQueue.async {
            let result = Result { () throws -> [UInt8] in
                let bytes = try body(ledger)
                // Entry rows vary in size (up to 6 KiB each): a lookup of many
                // large entries can outgrow a frame. Refused, never truncated.
                guard bytes.count <= ProtocolFormat.frameBodyBytesMax else {
                    throw ProtocolError(
                        .malformedBody,
                        "the reply would be \(bytes.count) bytes, over frameBodyBytesMax (\(ProtocolFormat.frameBodyBytesMax)); ask for fewer ids")
                }
                return bytes
            }
            loop.execute {
                let (handler, context) = bound.value
                handler.inFlight -= 1
                defer { metrics.requestAnswered() }
                switch result {
                case .success(let bytes):
                    handler.write(context, Frame.encode(operation: header.operation, requestID: header.requestID, body: bytes, version: handler.version))
                case .failure(let error as ProtocolError):
                    handler.reply(context, error, operation: header.operation, requestID: header.requestID)
                case .failure(let error):
                    handler.reply(context, Self.protocolError(error), operation: header.operation, requestID: header.requestID)
                }
            }
        }
    }
}

/// One waiting read's state, touched on its connection's event loop only.
final class ReadWait {
    var answered = false
    var timer: Scheduled<Void>?
}
