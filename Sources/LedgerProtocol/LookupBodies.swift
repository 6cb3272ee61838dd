// The bodies of `lookupAccounts` and `lookupEntries` (Specs/protocol.md,
// "Bodies"). Every decoder checks sizes and limits before it reads, and
// throws `malformedBody`.
import LedgerModel

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
