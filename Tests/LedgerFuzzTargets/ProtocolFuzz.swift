// The wire protocol's decoders (Specs/protocol.md), fed hostile bytes.

import LedgerEngine
import LedgerProtocol

enum ProtocolFuzz {
    static func frame(_ input: [UInt8]) {
        guard let (header, body) = try? Frame.decode(input) else { return }
        require(header.bodyBytes == body.count, "frame body length \(body.count) differs from its header's \(header.bodyBytes)")
        // What Frame.decode accepts, Frame.encode writes back identically.
        if let status = ProtocolStatus(rawValue: header.status) {
            let again = Frame.encode(operation: header.operation, requestID: header.requestID, body: body, status: status)
            require(again == Array(input.prefix(again.count)), "frame does not re-encode to its bytes")
        }
        guard let operation = ProtocolOperation(rawValue: header.operation) else { return }
        decodeBody(operation, reply: header.status != 0, body)
    }

    /// First byte: the operation (1...11); second: request (even) or reply
    /// (odd); the rest is the body.
    static func bodies(_ input: [UInt8]) {
        guard input.count >= 2, let operation = ProtocolOperation(rawValue: UInt16(input[0] % 12) + 1) else { return }
        decodeBody(operation, reply: input[1] & 1 == 1, Array(input.dropFirst(2)))
    }

    static func decodeBody(_ operation: ProtocolOperation, reply: Bool, _ body: [UInt8]) {
        // Version 2 reads: the 16-byte prefix, then the version 1 body.
        if operation.isRead && !reply, let (consistency, rest) = try? ReadConsistency.split(body) {
            require(consistency.encoded() + rest == body, "read prefix re-encodes differently")
        }
        switch (operation, reply) {
        case (.hello, false):
            if let hello = try? HelloRequest.decode(body) { require(hello.encoded() == body, "hello request re-encodes differently") }
        case (.hello, true):
            if let hello = try? HelloReply.decode(body) { require(hello.encoded() == body, "hello reply re-encodes differently") }
        case (.createAccounts, false), (.submitEntries, false):
            if let batch = try? EventBatchBody.decode(body, for: operation) {
                require(EventBatchBody.encode(batch) == body, "event batch body re-encodes differently")
                _ = batch.events()
            }
        case (.createAccounts, true), (.submitEntries, true):
            for n in [0, 1, body.count / 8, body.count] {
                if let results = try? ResultsBody.decode(body, eventCount: n) {
                    require(ResultsBody.encode(results) == body, "results body re-encodes differently")
                }
                // Version 2: the commit LSN first.
                if let committed = try? CommittedResultsBody.decode(body, eventCount: n) {
                    require(CommittedResultsBody.encode(committed.results, lsn: committed.lsn) == body, "committed results re-encode differently")
                }
            }
        case (.lookupAccounts, false), (.lookupEntries, false):
            if let ids = try? IDListBody.decode(body) { require(IDListBody.encode(ids) == body, "id list re-encodes differently") }
        case (.lookupAccounts, true):
            for n in [0, 1, 2, 8] { _ = try? AccountListBody.decode(body, count: n) }
        case (.lookupEntries, true):
            for n in [0, 1, 2, 8] {
                if let rows = try? EntryListBody.decode(body, count: n) {
                    require(EntryListBody.encode(rows) == body, "entry list re-encodes differently")
                }
            }
        case (.accountHistory, false):
            if let query = try? HistoryQuery.decode(body) { require(query.encoded() == body, "history query re-encodes differently") }
        case (.accountHistory, true):
            if let page = try? HistoryPageBody.decode(body) {
                require((try? HistoryPageBody.decode(HistoryPageBody.encode(page))) == page, "history page does not round-trip")
            }
        case (.balanceAsOf, false):
            if let (account, asOf) = try? BalanceBodies.decodeQuery(body) {
                require(BalanceBodies.encodeQuery(account: account, asOfNs: asOf) == body, "balance query re-encodes differently")
            }
        case (.balanceAsOf, true):
            if let balances = try? BalanceBodies.decodeBalances(body) {
                require(BalanceBodies.encodeBalances(balances) == body, "balances re-encode differently")
            }
        case (.status, false):
            break  // a status request has no body
        case (.status, true):
            if let status = try? StatusBody.decode(body) { require(status.encoded() == body, "status body re-encodes differently") }
        case (.replicate, false):
            if let request = try? ReplicateRequest.decode(body) { require(request.encoded() == body, "replicate request re-encodes differently") }
        case (.baseBackup, false):
            break  // a baseBackup request has no body
        case (.admin, false):
            if let command = try? AdminCommand.decode(body) { require(command.encoded() == body, "admin request re-encodes differently") }
        case (.admin, true):
            break  // a JSON text the server writes; no decoder here
        case (.replicate, true), (.baseBackup, true):
            if let message = try? ReplicationMessage.decode(body) { require(message.encoded() == body, "replication message re-encodes differently") }
        case (.standbyStatus, _):
            if let status = try? StandbyStatus.decode(body) { require(status.encoded() == body, "standby status re-encodes differently") }
        }
    }
}
