// The bodies of `status`, `accountHistory` and `balanceAsOf`
// (Specs/protocol.md, "Bodies"). Every decoder checks sizes and limits
// before it reads, and throws `malformedBody`.
import LedgerModel

/// The reply of `status`.
public struct StatusBody: Sendable, Equatable {
    public var lastLSN: UInt64
    public var accounts: UInt64
    public var residentEntries: UInt64
    public var uptimeNs: UInt64
    public var connections: UInt32
    public var queueDepth: UInt32

    public init(lastLSN: UInt64, accounts: UInt64, residentEntries: UInt64, uptimeNs: UInt64, connections: UInt32, queueDepth: UInt32) {
        (self.lastLSN, self.accounts, self.residentEntries, self.uptimeNs, self.connections, self.queueDepth) =
            (lastLSN, accounts, residentEntries, uptimeNs, connections, queueDepth)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        for v in [lastLSN, accounts, residentEntries, uptimeNs] { Wire.append(&out, v) }
        Wire.append(&out, connections)
        Wire.append(&out, queueDepth)
        return out
    }

    public static func decode(_ body: [UInt8]) throws -> StatusBody {
        guard body.count == 40 else { throw ProtocolError(.malformedBody, "status of \(body.count) bytes") }
        return body.withUnsafeBytes { p in
            StatusBody(
                lastLSN: Wire.u64(p, 0), accounts: Wire.u64(p, 8), residentEntries: Wire.u64(p, 16), uptimeNs: Wire.u64(p, 24),
                connections: Wire.u32(p, 32), queueDepth: Wire.u32(p, 36))
        }
    }
}

/// The query of `accountHistory`.
public struct HistoryQuery: Sendable, Equatable {
    public var account: UInt128
    public var fromNs: UInt64
    public var toNs: UInt64
    /// The previous page's cursor; nil for the first page.
    public var afterNs: UInt64?
    public var limit: Int

    public init(account: UInt128, fromNs: UInt64 = 0, toNs: UInt64 = .max, afterNs: UInt64? = nil, limit: Int) {
        (self.account, self.fromNs, self.toNs, self.afterNs, self.limit) = (account, fromNs, toNs, afterNs, limit)
    }

    public func encoded() -> [UInt8] {
        precondition((1...ProtocolFormat.historyItemsMax).contains(limit) && afterNs != 0, "history query limit or cursor")
        var out: [UInt8] = []
        Wire.append(&out, account)
        Wire.append(&out, fromNs)
        Wire.append(&out, toNs)
        Wire.append(&out, afterNs ?? 0)
        Wire.append(&out, UInt32(limit))
        Wire.append(&out, UInt32(0))
        return out
    }

    public static func decode(_ body: [UInt8]) throws -> HistoryQuery {
        try body.withUnsafeBytes { p in
            guard p.count == 48, Wire.u32(p, 44) == 0, (1...ProtocolFormat.historyItemsMax).contains(Int(Wire.u32(p, 40))) else {
                throw ProtocolError(.malformedBody, "history query of \(p.count) bytes, or a limit outside 1...\(ProtocolFormat.historyItemsMax)")
            }
            let after = Wire.u64(p, 32)
            return HistoryQuery(
                account: Wire.u128(p, 0), fromNs: Wire.u64(p, 16), toNs: Wire.u64(p, 24), afterNs: after == 0 ? nil : after, limit: Int(Wire.u32(p, 40)))
        }
    }
}

/// The reply of `accountHistory`.
public enum HistoryPageBody {
    public static let itemBytes = 168

    static func kindCode(_ kind: HistoryItem.Kind) -> UInt8 {
        switch kind {
        case .posted: 0
        case .pending: 1
        case .postPending: 2
        case .voidPending: 3
        case .expireHold: 4
        }
    }

    public static func encode(_ page: HistoryPage) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + itemBytes * page.items.count)
        Wire.append(&out, UInt32(page.items.count))
        Wire.append(&out, UInt32(0))
        Wire.append(&out, page.nextCursor ?? 0)
        for item in page.items {
            Wire.append(&out, item.timestamp)
            Wire.append(&out, item.lsn)
            out.append(kindCode(item.kind))
            out += [UInt8](repeating: 0, count: 7)
            Wire.append(&out, item.id)
            for v in [item.balances.debitsPosted, item.balances.creditsPosted, item.balances.debitsPending, item.balances.creditsPending] {
                Wire.append(&out, v)
            }
            Wire.append(&out, item.debitsPostedDelta)
            Wire.append(&out, item.creditsPostedDelta)
            Wire.append(&out, UInt128(bitPattern: item.debitsPendingDelta))
            Wire.append(&out, UInt128(bitPattern: item.creditsPendingDelta))
        }
        return out
    }

    public static func decode(_ body: [UInt8]) throws -> HistoryPage {
        try body.withUnsafeBytes { p in
            guard p.count >= 16 else { throw ProtocolError(.malformedBody, "history page shorter than 16 bytes") }
            let count = Int(Wire.u32(p, 0))
            guard count <= ProtocolFormat.historyItemsMax, Wire.u32(p, 4) == 0, p.count == 16 + itemBytes * count else {
                throw ProtocolError(.malformedBody, "history page of \(count) items in \(p.count) bytes")
            }
            let kinds: [HistoryItem.Kind] = [.posted, .pending, .postPending, .voidPending, .expireHold]
            var items: [HistoryItem] = []
            for i in 0..<count {
                let o = 16 + i * itemBytes
                guard Int(p[o + 16]) < kinds.count else { throw ProtocolError(.malformedBody, "history item \(i) of kind \(p[o + 16])") }
                var balances = AccountBalances()
                (balances.debitsPosted, balances.creditsPosted, balances.debitsPending, balances.creditsPending) =
                    (Wire.u128(p, o + 40), Wire.u128(p, o + 56), Wire.u128(p, o + 72), Wire.u128(p, o + 88))
                var item = HistoryItem(
                    id: Wire.u128(p, o + 24), kind: kinds[Int(p[o + 16])], timestamp: Wire.u64(p, o), lsn: Wire.u64(p, o + 8), balances: balances)
                item.debitsPostedDelta = Wire.u128(p, o + 104)
                item.creditsPostedDelta = Wire.u128(p, o + 120)
                item.debitsPendingDelta = Int128(bitPattern: Wire.u128(p, o + 136))
                item.creditsPendingDelta = Int128(bitPattern: Wire.u128(p, o + 152))
                items.append(item)
            }
            let cursor = Wire.u64(p, 8)
            return HistoryPage(items: items, nextCursor: cursor == 0 ? nil : cursor)
        }
    }
}

/// The query of `balanceAsOf` and its 64-byte reply.
public enum BalanceBodies {
    public static func encodeQuery(account: UInt128, asOfNs: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        Wire.append(&out, account)
        Wire.append(&out, asOfNs)
        Wire.append(&out, UInt64(0))
        return out
    }

    public static func decodeQuery(_ body: [UInt8]) throws -> (account: UInt128, asOfNs: UInt64) {
        try body.withUnsafeBytes { p in
            guard p.count == 32, Wire.u64(p, 24) == 0 else { throw ProtocolError(.malformedBody, "balance query of \(p.count) bytes") }
            return (Wire.u128(p, 0), Wire.u64(p, 16))
        }
    }

    public static func encodeBalances(_ b: AccountBalances) -> [UInt8] {
        var out: [UInt8] = []
        for v in [b.debitsPosted, b.creditsPosted, b.debitsPending, b.creditsPending] { Wire.append(&out, v) }
        return out
    }

    public static func decodeBalances(_ body: [UInt8]) throws -> AccountBalances {
        try body.withUnsafeBytes { p in
            guard p.count == 64 else { throw ProtocolError(.malformedBody, "balances of \(p.count) bytes") }
            var b = AccountBalances()
            (b.debitsPosted, b.creditsPosted, b.debitsPending, b.creditsPending) = (Wire.u128(p, 0), Wire.u128(p, 16), Wire.u128(p, 32), Wire.u128(p, 48))
            return b
        }
    }
}
