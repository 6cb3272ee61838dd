// The seal record that closes a month's segment: totals, closing balances,
// open holds and the SHA-256 month root chained to the previous month. See
// Specs/segment-format.md ("Seal record"); the layout there is normative.

public struct SegmentSeal: Sendable, Equatable {
    public var recordCount: UInt64
    public var firstLSN: UInt64
    public var lastLSN: UInt64
    public var firstTimestamp: UInt64
    public var lastTimestamp: UInt64
    /// The latest earlier month that has a segment; nil for the first.
    public var previousMonth: UTCMonth?
    /// That month's root; zeros for the first month.
    public var previousRoot: [UInt8]
    public var monthRoot: [UInt8]
    /// Posted movement during the month per ledger, sorted by ledger.
    public var totals: [LedgerTotals]
    /// Every account touched during the month, as at its end, sorted by id.
    public var accounts: [SegmentAccount]
    /// Every hold open at the month's end, sorted by id.
    public var holds: [(id: UInt128, hold: SegmentHold)]

    static let fixedBytes = 144
    static let ledgerBytes = 40
    static let accountBytes = 96
    static let holdBytes = 32
    static let holdPostingBytes = 40
    static let tailBytes = 16
    public static let recordType: UInt8 = 2

    public static func == (a: Self, b: Self) -> Bool {
        a.recordCount == b.recordCount && a.firstLSN == b.firstLSN && a.lastLSN == b.lastLSN
            && a.firstTimestamp == b.firstTimestamp && a.lastTimestamp == b.lastTimestamp && a.previousMonth == b.previousMonth
            && a.previousRoot == b.previousRoot && a.monthRoot == b.monthRoot && a.totals == b.totals && a.accounts == b.accounts
            && a.holds.map(\.id) == b.holds.map(\.id) && a.holds.map(\.hold) == b.holds.map(\.hold)
    }

    public var encodedBytes: Int {
        Self.fixedBytes + totals.count * Self.ledgerBytes + accounts.count * Self.accountBytes
            + holds.reduce(0) { $0 + Self.holdBytes + $1.hold.postings.count * Self.holdPostingBytes } + Self.tailBytes
    }

    /// The month root: SHA-256("LDGRMONTH" ‖ directory id ‖ month number (u32)
    /// ‖ previous root ‖ the month's event records, byte for byte).
    public static func rootHasher(directoryID: [UInt8], month: UTCMonth, previousRoot: [UInt8]) -> SHA256Hasher {
        let hasher = SHA256Hasher()
        hasher.update(Array("LDGRMONTH".utf8) + directoryID)
        let number = UInt32(month.number)
        hasher.update((0..<4).map { UInt8(truncatingIfNeeded: number >> (8 * $0)) })
        hasher.update(previousRoot)
        return hasher
    }

    public func encoded(seed: UInt32) -> [UInt8] {
        precondition(previousRoot.count == 32 && monthRoot.count == 32, "roots are 32 bytes")
        var bytes = [UInt8](repeating: 0, count: encodedBytes)
        bytes.withUnsafeMutableBytes { p in
            p[4] = Self.recordType
            p[5] = SegmentFormat.version
            _LE.put(p, 8, UInt64(p.count))
            _LE.put(p, 16, recordCount)
            _LE.put(p, 24, firstLSN)
            _LE.put(p, 32, lastLSN)
            _LE.put(p, 40, firstTimestamp)
            _LE.put(p, 48, lastTimestamp)
            _LE.put(p, 56, UInt32(previousMonth.map { $0.number + 1 } ?? 0))
            for i in 0..<32 {
                p[64 + i] = previousRoot[i]
                p[96 + i] = monthRoot[i]
            }
            _LE.put(p, 128, UInt32(totals.count))
            _LE.put(p, 132, UInt32(accounts.count))
            _LE.put(p, 136, UInt32(holds.count))
            _LE.put(p, 140, UInt32(holds.reduce(0) { $0 + $1.hold.postings.count }))
            var o = Self.fixedBytes
            for total in totals {
                _LE.put(p, o, total.ledger)
                _LE.put(p, o + 8, total.debitsPosted)
                _LE.put(p, o + 24, total.creditsPosted)
                o += Self.ledgerBytes
            }
            for account in accounts {
                _LE.put(p, o, account.id)
                _LE.put(p, o + 16, account.ledger)
                _LE.put(p, o + 20, account.flags.rawValue)
                Self.put(account.balances, p, o + 32)
                o += Self.accountBytes
            }
            for (id, hold) in holds {
                _LE.put(p, o, id)
                _LE.put(p, o + 16, hold.position.rawValue)
                _LE.put(p, o + 24, UInt32(hold.postings.count))
                o += Self.holdBytes
                for posting in hold.postings {
                    _LE.put(p, o, posting.accountID)
                    _LE.put(p, o + 16, posting.amount)
                    p[o + 32] = posting.side.rawValue
                    o += Self.holdPostingBytes
                }
            }
            _LE.put(p, o, UInt64(p.count))
            _LE.put(p, o + 12, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(o + 12)]), seed: seed)))
        }
        return bytes
    }

    /// Decodes a seal record at the start of `p` (which may run on past it).
    /// Returns nil when the bytes are not a valid seal record.
    public static func decode(_ p: UnsafeRawBufferPointer, seed: UInt32) -> SegmentSeal? {
        guard p.count >= fixedBytes + tailBytes, _LE.u32(p, 0) == 0, p[4] == recordType, p[5] == SegmentFormat.version,
            _LE.u16(p, 6) == 0
        else { return nil }
        let total64 = _LE.u64(p, 8)
        guard total64 % 8 == 0, total64 >= UInt64(fixedBytes + tailBytes), total64 <= UInt64(p.count) else { return nil }
        let total = Int(total64)
        let tail = total - tailBytes
        guard _LE.u64(p, tail) == total64, _LE.u32(p, tail + 8) == 0,
            Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(tail + 12)]), seed: seed)) == _LE.u32(p, tail + 12),
            _LE.u32(p, 60) == 0
        else { return nil }
        let ledgerCount = Int(_LE.u32(p, 128))
        let accountCount = Int(_LE.u32(p, 132))
        let holdCount = Int(_LE.u32(p, 136))
        let holdPostingCount = Int(_LE.u32(p, 140))
        guard
            fixedBytes + ledgerCount * ledgerBytes + accountCount * accountBytes + holdCount * holdBytes
                + holdPostingCount * holdPostingBytes + tailBytes == total
        else { return nil }
        let previousNumber = Int(_LE.u32(p, 56))
        guard previousNumber == 0 || UTCMonth(checkedNumber: previousNumber - 1) != nil else { return nil }
        var seal = SegmentSeal(
            recordCount: _LE.u64(p, 16), firstLSN: _LE.u64(p, 24), lastLSN: _LE.u64(p, 32), firstTimestamp: _LE.u64(p, 40),
            lastTimestamp: _LE.u64(p, 48), previousMonth: previousNumber == 0 ? nil : UTCMonth(number: previousNumber - 1),
            previousRoot: Array(p[64..<96]), monthRoot: Array(p[96..<128]), totals: [], accounts: [], holds: [])
        var o = fixedBytes
        for _ in 0..<ledgerCount {
            guard _LE.u32(p, o + 4) == 0 else { return nil }
            seal.totals.append(LedgerTotals(ledger: _LE.u32(p, o), debitsPosted: _LE.u128(p, o + 8), creditsPosted: _LE.u128(p, o + 24)))
            o += ledgerBytes
        }
        for _ in 0..<accountCount {
            guard _LE.u16(p, o + 22) == 0, _LE.u64(p, o + 24) == 0 else { return nil }
            seal.accounts.append(
                SegmentAccount(
                    id: _LE.u128(p, o), ledger: _LE.u32(p, o + 16), flags: AccountFlags(rawValue: _LE.u16(p, o + 20)),
                    balances: Self.balances(p, o + 32)))
            o += accountBytes
        }
        var postingsLeft = holdPostingCount
        for _ in 0..<holdCount {
            let count = Int(_LE.u32(p, o + 24))
            guard _LE.u32(p, o + 28) == 0, count <= postingsLeft else { return nil }
            postingsLeft -= count
            let id = _LE.u128(p, o)
            let position = SegmentPosition(rawValue: _LE.u64(p, o + 16))
            guard position.isValid else { return nil }
            o += holdBytes
            var postings: [Posting] = []
            for _ in 0..<count {
                guard _LE.isZero(p, o + 33, 7) else { return nil }
                postings.append(Posting(accountID: _LE.u128(p, o), amount: _LE.u128(p, o + 16), side: Side(rawValue: p[o + 32])))
                o += holdPostingBytes
            }
            seal.holds.append((id, SegmentHold(position: position, postings: postings)))
        }
        guard postingsLeft == 0, o == tail else { return nil }
        return seal
    }

    static func put(_ b: AccountBalances, _ p: UnsafeMutableRawBufferPointer, _ o: Int) {
        _LE.put(p, o, b.debitsPosted)
        _LE.put(p, o + 16, b.creditsPosted)
        _LE.put(p, o + 32, b.debitsPending)
        _LE.put(p, o + 48, b.creditsPending)
    }

    static func balances(_ p: UnsafeRawBufferPointer, _ o: Int) -> AccountBalances {
        var b = AccountBalances()
        b.debitsPosted = _LE.u128(p, o)
        b.creditsPosted = _LE.u128(p, o + 16)
        b.debitsPending = _LE.u128(p, o + 32)
        b.creditsPending = _LE.u128(p, o + 48)
        return b
    }
}
