// Request and reply bodies (Specs/protocol.md, "Bodies"). Every decoder
// checks sizes and limits before it reads, and throws `malformedBody` (or
// `unsupportedVersion` for a `hello` sharing no version).
import LedgerEngine

public struct HelloRequest: Sendable, Equatable {
    public var versions: ClosedRange<UInt16>
    public var keyID: String
    public var secret: [UInt8]

    public init(versions: ClosedRange<UInt16> = ProtocolFormat.version...ProtocolFormat.version, keyID: String, secret: [UInt8]) {
        self.versions = versions
        self.keyID = keyID
        self.secret = secret
    }

    public func encoded() -> [UInt8] {
        let key = Array(keyID.utf8)
        precondition(ProtocolFormat.keyIDBytes.contains(key.count) && ProtocolFormat.secretBytes.contains(secret.count), "key id or secret size")
        var out: [UInt8] = []
        Wire.append(&out, versions.lowerBound)
        Wire.append(&out, versions.upperBound)
        Wire.append(&out, UInt16(key.count))
        Wire.append(&out, UInt16(secret.count))
        return out + key + secret
    }

    public static func decode(_ body: [UInt8]) throws -> HelloRequest {
        try body.withUnsafeBytes { (p) throws -> HelloRequest in
            guard p.count >= 8 else { throw ProtocolError(.malformedBody, "hello shorter than 8 bytes") }
            let (low, high) = (Wire.u16(p, 0), Wire.u16(p, 2))
            let (k, s) = (Int(Wire.u16(p, 4)), Int(Wire.u16(p, 6)))
            guard low <= high, ProtocolFormat.keyIDBytes.contains(k), ProtocolFormat.secretBytes.contains(s), p.count == 8 + k + s else {
                throw ProtocolError(.malformedBody, "hello fields out of range")
            }
            guard let keyID = String(validating: body[8..<(8 + k)], as: UTF8.self) else { throw ProtocolError(.malformedBody, "key id is not UTF-8") }
            return HelloRequest(versions: low...high, keyID: keyID, secret: Array(body[(8 + k)...]))
        }
    }
}

public struct HelloReply: Sendable, Equatable {
    public var version: UInt16
    public var frameBodyBytesMax: Int
    public var eventsPerRequestMax: Int
    public var inFlightMax: Int
    public var directoryID: [UInt8]

    public init(version: UInt16, frameBodyBytesMax: Int, eventsPerRequestMax: Int, inFlightMax: Int, directoryID: [UInt8]) {
        precondition(directoryID.count == 16, "directory id of \(directoryID.count) bytes")
        (self.version, self.frameBodyBytesMax, self.eventsPerRequestMax, self.inFlightMax, self.directoryID) =
            (version, frameBodyBytesMax, eventsPerRequestMax, inFlightMax, directoryID)
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        Wire.append(&out, version)
        Wire.append(&out, UInt16(0))
        Wire.append(&out, UInt32(frameBodyBytesMax))
        Wire.append(&out, UInt32(eventsPerRequestMax))
        Wire.append(&out, UInt32(inFlightMax))
        return out + directoryID
    }

    public static func decode(_ body: [UInt8]) throws -> HelloReply {
        try body.withUnsafeBytes { (p) throws -> HelloReply in
            guard p.count == 32, Wire.u16(p, 2) == 0 else { throw ProtocolError(.malformedBody, "hello reply of \(p.count) bytes") }
            return HelloReply(
                version: Wire.u16(p, 0), frameBodyBytesMax: Int(Wire.u32(p, 4)), eventsPerRequestMax: Int(Wire.u32(p, 8)),
                inFlightMax: Int(Wire.u32(p, 12)), directoryID: Array(body[16..<32]))
        }
    }
}

/// The event batch of `createAccounts` and `submitEntries`.
public enum EventBatchBody {
    public static func encode(_ batch: EventBatch) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(8 + batch.bytes.count)
        Wire.append(&out, UInt32(batch.eventCount))
        Wire.append(&out, UInt32(batch.bytes.count))
        return out + batch.bytes
    }

    /// Decodes and validates the batch as the engine does; every event must
    /// be of a kind `operation` takes. Any contiguous-index collection
    /// (an array, or a server's receive buffer): the event bytes are copied
    /// out of it once.
    public static func decode<Body: RandomAccessCollection<UInt8>>(_ body: Body, for operation: ProtocolOperation) throws -> EventBatch
    where Body.Index == Int {
        precondition(operation == .createAccounts || operation == .submitEntries, "\(operation) takes no event batch")
        guard body.count >= 8 else { throw ProtocolError(.malformedBody, "event batch shorter than 8 bytes") }
        let start = body.startIndex
        let u32 = { (o: Int) in (0..<4).reduce(0) { $0 | Int(body[start + o + $1]) << (8 * $1) } }
        let (count, bytes) = (u32(0), u32(4))
        guard (1...Limits.batchEventsMax).contains(count) else {
            throw ProtocolError(.malformedBody, "\(count) events; a request holds 1...\(Limits.batchEventsMax)")
        }
        guard body.count == 8 + bytes else { throw ProtocolError(.malformedBody, "event bytes \(bytes) but the body holds \(body.count - 8)") }
        let batch: EventBatch
        do {
            batch = try EventBatch(validating: Array(body[(start + 8)...]), eventCount: count)
        } catch {
            throw ProtocolError(.malformedBody, "\(error)")
        }
        try checkKinds(batch, for: operation)
        return batch
    }

    /// The checks `decode` makes, on a batch built locally (clients check
    /// before sending, so a bad batch fails without a round trip).
    public static func validate(_ batch: EventBatch, for operation: ProtocolOperation) throws {
        guard (1...Limits.batchEventsMax).contains(batch.eventCount) else {
            throw ProtocolError(.malformedBody, "\(batch.eventCount) events; a request holds 1...\(Limits.batchEventsMax)")
        }
        do {
            try batch.bytes.withUnsafeBytes { (p) throws in try EventBatchReader.validate(p, eventCount: batch.eventCount, allowEngineEvents: false) }
        } catch {
            throw ProtocolError(.malformedBody, "\(error)")
        }
        try checkKinds(batch, for: operation)
    }

    /// Every event must be of a kind `operation` takes.
    static func checkKinds(_ batch: EventBatch, for operation: ProtocolOperation) throws {
        let allowed: Set<UInt8> =
            operation == .createAccounts ? [EventFormat.kindCreateAccount, EventFormat.kindCloseAccount] : [EventFormat.kindCreateEntry]
        var offset = 0
        for index in 0..<batch.eventCount {
            let kind = batch.bytes[offset]
            guard allowed.contains(kind) else { throw ProtocolError(.malformedBody, "event \(index) is of kind \(kind), which \(operation) does not take") }
            offset += batch.bytes.withUnsafeBytes { EventBatchReader.eventSize($0, at: offset)! }
        }
    }
}

/// One result code per event, padded to 8 bytes.
public enum ResultsBody {
    public static func encode(_ results: [ResultCode]) -> [UInt8] {
        var out = results.map(\.rawValue)
        out += [UInt8](repeating: 0, count: (8 - out.count % 8) % 8)
        return out
    }

    public static func decode(_ body: [UInt8], eventCount: Int) throws -> [ResultCode] {
        guard body.count == (eventCount + 7) / 8 * 8, body[eventCount...].allSatisfy({ $0 == 0 }) else {
            throw ProtocolError(.malformedBody, "results of \(body.count) bytes for \(eventCount) events")
        }
        var results: [ResultCode] = []
        for code in body[0..<eventCount] {
            guard let result = ResultCode(rawValue: code) else { throw ProtocolError(.malformedBody, "unknown result code \(code)") }
            results.append(result)
        }
        return results
    }
}

/// The id list of `lookupAccounts` and `lookupEntries`.
public enum IDListBody {
    public static func encode(_ ids: [UInt128]) -> [UInt8] {
        precondition((1...ProtocolFormat.idsPerRequestMax).contains(ids.count), "\(ids.count) ids")
        var out: [UInt8] = []
        out.reserveCapacity(8 + 16 * ids.count)
        Wire.append(&out, UInt32(ids.count))
        Wire.append(&out, UInt32(0))
        for id in ids { Wire.append(&out, id) }
        return out
    }

    public static func decode(_ body: [UInt8]) throws -> [UInt128] {
        try body.withUnsafeBytes { (p) throws -> [UInt128] in
            guard p.count >= 8 else { throw ProtocolError(.malformedBody, "id list shorter than 8 bytes") }
            let count = Int(Wire.u32(p, 0))
            guard (1...ProtocolFormat.idsPerRequestMax).contains(count), Wire.u32(p, 4) == 0, p.count == 8 + 16 * count else {
                throw ProtocolError(.malformedBody, "id list of \(count) ids in \(p.count) bytes")
            }
            return (0..<count).map { Wire.u128(p, 8 + 16 * $0) }
        }
    }
}

/// The reply of `lookupAccounts`: one 128-byte row per id asked, zeros for
/// an unknown id.
public enum AccountListBody {
    public static let rowBytes = 128

    public static func encode(_ accounts: [Account?], ids: [UInt128]) -> [UInt8] {
        precondition(accounts.count == ids.count, "one row per id")
        var out: [UInt8] = []
        out.reserveCapacity(rowBytes * accounts.count)
        for account in accounts {
            guard let a = account else {
                out += [UInt8](repeating: 0, count: rowBytes)
                continue
            }
            Wire.append(&out, a.id)
            Wire.append(&out, a.userData)
            for v in [a.debitsPosted, a.creditsPosted, a.debitsPending, a.creditsPending] { Wire.append(&out, v) }
            Wire.append(&out, a.ledger)
            Wire.append(&out, a.code)
            Wire.append(&out, a.flags.rawValue)
            Wire.append(&out, a.timestamp)
            out += [UInt8](repeating: 0, count: 16)
        }
        return out
    }

    public static func decode(_ body: [UInt8], count: Int) throws -> [Account?] {
        guard body.count == rowBytes * count else { throw ProtocolError(.malformedBody, "account list of \(body.count) bytes for \(count) ids") }
        return body.withUnsafeBytes { p in
            (0..<count).map { i -> Account? in
                let o = i * rowBytes
                let id = Wire.u128(p, o)
                guard id != 0 else { return nil }
                var a = Account(
                    id: id, userData: Wire.u128(p, o + 16), ledger: Wire.u32(p, o + 96), code: Wire.u16(p, o + 100),
                    flags: AccountFlags(rawValue: Wire.u16(p, o + 102)), timestamp: Wire.u64(p, o + 104))
                (a.debitsPosted, a.creditsPosted, a.debitsPending, a.creditsPending) =
                    (Wire.u128(p, o + 32), Wire.u128(p, o + 48), Wire.u128(p, o + 64), Wire.u128(p, o + 80))
                return a
            }
        }
    }
}

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
            StatusBody(lastLSN: Wire.u64(p, 0), accounts: Wire.u64(p, 8), residentEntries: Wire.u64(p, 16), uptimeNs: Wire.u64(p, 24),
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
            return HistoryQuery(account: Wire.u128(p, 0), fromNs: Wire.u64(p, 16), toNs: Wire.u64(p, 24), afterNs: after == 0 ? nil : after, limit: Int(Wire.u32(p, 40)))
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
            for v in [item.balances.debitsPosted, item.balances.creditsPosted, item.balances.debitsPending, item.balances.creditsPending] { Wire.append(&out, v) }
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
                var item = HistoryItem(id: Wire.u128(p, o + 24), kind: kinds[Int(p[o + 16])], timestamp: Wire.u64(p, o), lsn: Wire.u64(p, o + 8), balances: balances)
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

/// The reply of `lookupEntries`: per id asked, in order, a row.
public enum EntryListBody {
    public struct Row: Sendable, Equatable {
        public var timestamp: UInt64
        public var lsn: UInt64
        public var entry: NewEntry
        public init(timestamp: UInt64, lsn: UInt64, entry: NewEntry) { (self.timestamp, self.lsn, self.entry) = (timestamp, lsn, entry) }
    }

    public static func encode(_ rows: [Row?]) -> [UInt8] {
        var out: [UInt8] = []
        for row in rows {
            guard let row else {
                Wire.append(&out, UInt32(8))
                Wire.append(&out, UInt32(0))
                continue
            }
            let event = EventBatch([.createEntry(row.entry)]).bytes
            Wire.append(&out, UInt32(24 + event.count))
            Wire.append(&out, UInt32(0))
            Wire.append(&out, row.timestamp)
            Wire.append(&out, row.lsn)
            out += event
        }
        return out
    }

    public static func decode(_ body: [UInt8], count: Int) throws -> [Row?] {
        var rows: [Row?] = []
        var o = 0
        for _ in 0..<count {
            guard o + 8 <= body.count else { throw ProtocolError(.malformedBody, "entry list ends early") }
            let (r, zero) = body.withUnsafeBytes { (Int(Wire.u32($0, o)), Wire.u32($0, o + 4)) }
            guard r == 8 || r > 24, o + r <= body.count else { throw ProtocolError(.malformedBody, "entry row of \(r) bytes") }
            guard zero == 0 else { throw ProtocolError(.malformedBody, "entry row's zero field is \(zero)") }
            if r == 8 {
                rows.append(nil)
            } else {
                let event = Array(body[(o + 24)..<(o + r)])
                guard let batch = try? EventBatch(validating: event, eventCount: 1),
                    case .createEntry(let entry) = batch.bytes.withUnsafeBytes({ EventBatchReader.decode($0, at: 0) })
                else { throw ProtocolError(.malformedBody, "entry row holds no entry") }
                let (timestamp, lsn) = body.withUnsafeBytes { (Wire.u64($0, o + 8), Wire.u64($0, o + 16)) }
                rows.append(Row(timestamp: timestamp, lsn: lsn, entry: entry))
            }
            o += r
        }
        guard o == body.count else { throw ProtocolError(.malformedBody, "bytes follow the entry list") }
        return rows
    }
}
