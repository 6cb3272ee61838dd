// The double-entry state machine: pure and deterministic. `apply` takes an
// encoded batch and the batch's base timestamp and returns one result per
// event. It performs no I/O and reads no clock, so replaying the log through
// it rebuilds exactly the same state (the log is the truth).
//
// Invariants (checked by `invariantViolations()` in tests and `verify`):
// - per ledger, the sum of `debitsPosted` equals the sum of `creditsPosted`,
//   and likewise for the pending balances;
// - every account's pending balances equal the sum of its open holds;
// - every account with an overdraft flag satisfies it;
// - a failed event changes nothing.

public struct EntryRecord: Sendable, Hashable {
    public enum HoldState: UInt8, Sendable {
        case notAHold = 0, open = 1, posted = 2, voided = 3, expired = 4
        /// A pending entry evicted from memory (ResidentWindow.swift): its
        /// hold was settled or expired before the resident window. Only in
        /// `coldEntries`, never stored.
        case settledLongAgo = 5
    }
    public var fingerprint: UInt64
    public var timestamp: UInt64
    public var kind: EntryKind
    public var holdState: HoldState
}

@usableFromInline
struct HoldPosting: Sendable, Hashable {
    var slot: Int32
    var side: Side
    var amount: UInt128
}

@usableFromInline
struct OpenHold: Sendable, Hashable {
    var expiresAtNs: UInt64  // 0: never
    var postings: [HoldPosting]
}

public struct LedgerStateMachine: Sendable {
    public internal(set) var accounts: [Account] = []
    @usableFromInline var accountSlotByID = IDTable<Int32>(emptyValue: -1)
    @usableFromInline var entries: IDTable<EntryRecord>
    @usableFromInline var openHolds: [UInt128: OpenHold] = [:]
    @usableFromInline var expiries = ExpiryHeap()
    /// Timestamp of the last event applied (0 before the first batch).
    public internal(set) var lastTimestamp: UInt64 = 0
    /// Timestamp of the last event that succeeded (and so was filed into a
    /// segment); 0 before the first. Saved in snapshots.
    public internal(set) var lastAppliedTimestamp: UInt64 = 0
    /// Whether entry records older than the resident window are evicted
    /// (ResidentWindow.swift). Off for a machine whose owner cannot look
    /// evicted ids up.
    public var evictsOldEntries = false
    /// Evicted entries the current batch refers to, found by the engine in
    /// the sealed months before `apply` (`coldCandidates`); empty otherwise.
    @usableFromInline var coldEntries: [UInt128: EntryRecord] = [:]
    /// Entry records with an earlier timestamp (and no open hold) were
    /// evicted (ResidentWindow.swift); 0 when none were. Saved in snapshots.
    public internal(set) var residentSinceNs: UInt64 = 0
    /// A batch ending before this cannot cross into a new month of the
    /// window (a cache of the calendar, not saved: 0 means "check").
    @usableFromInline var noEvictionBeforeNs: UInt64 = 0

    /// Slots changed since the last `takeChangedSlots`, each once.
    @usableFromInline var changedSlots: [Int32] = []
    @usableFromInline var slotIsChanged: [Bool] = []

    // Scratch space reused by every entry so the hot path does not allocate.
    @usableFromInline var scratchSlots: [Int32] = []
    @usableFromInline var scratchLedgers: [LedgerSum] = []
    @usableFromInline var scratchTouched: [Account] = []
    @usableFromInline var scratchTouchedSlots: [Int32] = []
    /// Per ledger, the sum of its accounts' posted debits (equal to their
    /// posted credits: entries balance per ledger) and pending debits;
    /// bounded by `UInt128.max` (StateMachine+LedgerTotals.swift).
    @usableFromInline var ledgerTotals: [UInt32: LedgerTotal] = [:]
    @usableFromInline var scratchLedgerTotals: [(ledger: UInt32, total: LedgerTotal)] = []

    @usableFromInline
    struct LedgerSum: Sendable {
        var ledger: UInt32
        var debits: UInt128
        var credits: UInt128
    }

    /// `entryCapacity`: the idempotency table's initial buckets (it grows);
    /// the default suits a server, tools that apply a few events (fuzz
    /// targets) pass less.
    public init(entryCapacity: Int = 1 << 16) {
        precondition(entryCapacity >= 1 && entryCapacity <= 1 << 30, "entryCapacity \(entryCapacity)")
        entries = IDTable(capacity: entryCapacity, emptyValue: EntryRecord(fingerprint: 0, timestamp: 0, kind: .posted, holdState: .notAHold))
        scratchSlots.reserveCapacity(Limits.entryPostingsMax)
        scratchLedgers.reserveCapacity(Limits.entryPostingsMax)
        scratchTouched.reserveCapacity(Limits.entryPostingsMax)
        scratchTouchedSlots.reserveCapacity(Limits.entryPostingsMax)
    }

    public var accountCount: Int { accounts.count }
    public var entryCount: Int { entries.count }
    public var openHoldCount: Int { openHolds.count }
    /// An upper bound on the holds that can still expire (heap items,
    /// including ones settled since and not yet discarded).
    public var holdsWithTimeoutCount: Int { expiries.items.count }

    public func account(id: UInt128) -> Account? {
        accountSlotByID[id].map { accounts[Int($0)] }
    }

    public func slot(ofAccount id: UInt128) -> Int? {
        accountSlotByID[id].map(Int.init)
    }

    public func entry(id: UInt128) -> EntryRecord? { entries[id] }

    /// Returns and forgets the slots changed since the previous call.
    public mutating func takeChangedSlots() -> [Int32] {
        let taken = changedSlots
        for slot in taken { slotIsChanged[Int(slot)] = false }
        changedSlots.removeAll(keepingCapacity: true)
        return taken
    }

    @inlinable
    mutating func markChanged(_ slot: Int32) {
        if !slotIsChanged[Int(slot)] {
            slotIsChanged[Int(slot)] = true
            changedSlots.append(slot)
        }
    }

    // MARK: - Applying batches

    /// Applies an encoded, validated batch whose first event gets `timestamp`
    /// (event i gets `timestamp + i`). Appends one result per event to
    /// `results`.
    public mutating func apply(
        _ batch: UnsafeRawBufferPointer, eventCount: Int, timestamp: UInt64, results: inout [ResultCode]
    ) {
        precondition(eventCount >= 1 && eventCount <= Limits.batchEventsMax, "eventCount \(eventCount)")
        precondition(timestamp > lastTimestamp, "timestamp \(timestamp) not after \(lastTimestamp)")
        if evictsOldEntries {
            let evicted = evictBeforeBatch(endingAt: timestamp + UInt64(eventCount - 1))
            precondition(evicted.isEmpty, "the engine must evict (evictBeforeBatch) and look up cold ids before apply")
        }
        defer { if !coldEntries.isEmpty { coldEntries = [:] } }
        // A second cursor runs `prefetchDistance` events ahead: it measures each
        // event once (the main loop reuses the size from a small stack ring)
        // and prefetches entry-id buckets (the idempotency table is too big
        // for cache).
        let prefetchDistance = 8
        let ringMask = 15  // ring of 16 sizes > prefetchDistance
        withUnsafeTemporaryAllocation(of: Int.self, capacity: ringMask + 1) { sizes in
            var aheadOffset = 0
            var aheadIndex = 0
            func advanceAhead() {
                guard aheadIndex < eventCount else { return }
                guard let size = EventBatchReader.eventSize(batch, at: aheadOffset) else {
                    preconditionFailure("apply() called with an unvalidated batch: event \(aheadIndex) at \(aheadOffset)")
                }
                if batch[aheadOffset] == EventFormat.kindCreateEntry { entries.prefetch(_LE.u128(batch, aheadOffset + 16)) }
                sizes[aheadIndex & ringMask] = size
                aheadOffset += size
                aheadIndex += 1
            }
            for _ in 0..<prefetchDistance { advanceAhead() }
            var offset = 0
            for index in 0..<eventCount {
                advanceAhead()
                assert(aheadIndex > index, "the size cursor fell behind")
                let size = sizes[index & ringMask]
                let eventTimestamp = timestamp + UInt64(index)
                let result: ResultCode
                switch batch[offset] {
                case EventFormat.kindCreateAccount: result = applyCreateAccount(batch, offset, timestamp: eventTimestamp)
                case EventFormat.kindCloseAccount: result = applyCloseAccount(batch, offset)
                case EventFormat.kindExpireHold: result = applyExpireHold(_LE.u128(batch, offset + 16), timestamp: eventTimestamp)
                default: result = applyEntry(batch, offset, size: size, timestamp: eventTimestamp)
                }
                results.append(result)
                if result == .ok { lastAppliedTimestamp = eventTimestamp }
                offset += size
            }
        }
        lastTimestamp = timestamp + UInt64(eventCount - 1)
    }

    /// Convenience for tests and tools.
    public mutating func apply(_ batch: EventBatch, timestamp: UInt64) -> [ResultCode] {
        var results: [ResultCode] = []
        results.reserveCapacity(batch.eventCount)
        batch.bytes.withUnsafeBytes { raw in
            apply(raw, eventCount: batch.eventCount, timestamp: timestamp, results: &results)
        }
        return results
    }

    // MARK: Accounts

    @usableFromInline
    mutating func applyCreateAccount(_ p: UnsafeRawBufferPointer, _ o: Int, timestamp: UInt64) -> ResultCode {
        let id = _LE.u128(p, o + 16)
        let flags = AccountFlags(rawValue: _LE.u16(p, o + 2))
        let ledger = _LE.u32(p, o + 4)
        let code = _LE.u16(p, o + 8)
        let userData = _LE.u128(p, o + 32)
        guard id != 0 else { return .idMustNotBeZero }
        guard ledger != 0 else { return .ledgerMustNotBeZero }
        guard AccountFlags.clientSettable.isSuperset(of: flags) else { return .reservedFlag }
        guard !flags.isSuperset(of: [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits]) else {
            return .flagsAreMutuallyExclusive
        }
        if let slot = accountSlotByID[id] {
            let existing = accounts[Int(slot)]
            let same = existing.ledger == ledger && existing.code == code && existing.userData == userData
                && existing.flags.subtracting(.closed) == flags
            return same ? .exists : .existsWithDifferentFields
        }
        guard accounts.count < Limits.accountsMax else { return .accountsFull }
        let slot = Int32(accounts.count)
        accounts.append(Account(id: id, userData: userData, ledger: ledger, code: code, flags: flags, timestamp: timestamp))
        slotIsChanged.append(false)
        accountSlotByID.insertNew(id, slot)
        markChanged(slot)
        return .ok
    }

    @usableFromInline
    mutating func applyCloseAccount(_ p: UnsafeRawBufferPointer, _ o: Int) -> ResultCode {
        let id = _LE.u128(p, o + 16)
        guard id != 0 else { return .idMustNotBeZero }
        guard let slot = accountSlotByID[id] else { return .accountNotFound }
        let account = accounts[Int(slot)]
        guard !account.flags.contains(.closed) else { return .accountAlreadyClosed }
        guard account.debitsPending == 0, account.creditsPending == 0 else { return .accountHasPendingBalance }
        accounts[Int(slot)].flags.insert(.closed)
        markChanged(slot)
        return .ok
    }

    // MARK: Entries

    @usableFromInline
    mutating func applyEntry(_ p: UnsafeRawBufferPointer, _ o: Int, size: Int, timestamp: UInt64) -> ResultCode {
        let kind = EntryKind(rawValue: p[o + 1])
        let postingCount = Int(_LE.u16(p, o + 4))
        let metadataBytes = Int(_LE.u16(p, o + 6))
        let timeoutSeconds = _LE.u32(p, o + 8)
        let id = _LE.u128(p, o + 16)
        let pendingID = _LE.u128(p, o + 32)

        // 1. Field checks: no state is read.
        guard id != 0 else { return .idMustNotBeZero }
        guard kind.rawValue <= EntryKind.voidPending.rawValue else { return .invalidEntryKind }
        guard postingCount <= Limits.entryPostingsMax else { return .tooManyPostings }
        guard metadataBytes <= Limits.entryMetadataBytesMax else { return .metadataTooLong }
        var postingOffset = o + EventFormat.entryHeaderBytes
        for _ in 0..<postingCount {
            guard _LE.u128(p, postingOffset + 16) != 0 else { return .amountMustNotBeZero }
            guard Side(rawValue: p[postingOffset + 32]).isValid else { return .invalidSide }
            postingOffset += EventFormat.postingBytes
        }
        let isNew = kind == .posted || kind == .pending
        if isNew {
            guard postingCount >= Limits.entryPostingsMin else { return .tooFewPostings }
            guard pendingID == 0 else { return .pendingIdMustBeZero }
            guard kind == .pending || timeoutSeconds == 0 else { return .timeoutRequiresPending }
        } else {
            guard pendingID != 0 else { return .pendingIdRequired }
            guard timeoutSeconds == 0 else { return .timeoutRequiresPending }
            guard kind == .postPending || postingCount == 0 else { return .postingsDifferFromPending }
        }

        // 2. Idempotency (an evicted id is in `coldEntries`).
        let fingerprint = Fingerprint.of(p, offset: o, count: size)
        if let existing = entries[id] ?? (coldEntries.isEmpty ? nil : coldEntries[id]) {
            return existing.fingerprint == fingerprint ? .exists : .existsWithDifferentFields
        }

        // 3. State checks and effects.
        let result: ResultCode
        if isNew {
            result = applyNewEntry(p, o, postingCount: postingCount, kind: kind, timeoutSeconds: timeoutSeconds, timestamp: timestamp, id: id)
        } else {
            result = settleHold(p, o, postingCount: postingCount, kind: kind, pendingID: pendingID, timestamp: timestamp)
        }
        if result == .ok {
            entries.insertNew(id, EntryRecord(
                fingerprint: fingerprint, timestamp: timestamp, kind: kind, holdState: kind == .pending ? .open : .notAHold))
        }
        return result
    }

    @usableFromInline
    mutating func applyNewEntry(
        _ p: UnsafeRawBufferPointer, _ o: Int, postingCount: Int, kind: EntryKind, timeoutSeconds: UInt32,
        timestamp: UInt64, id: UInt128
    ) -> ResultCode {
        scratchSlots.removeAll(keepingCapacity: true)
        var postingOffset = o + EventFormat.entryHeaderBytes
        for _ in 0..<postingCount {
            guard let slot = accountSlotByID[_LE.u128(p, postingOffset)] else { return .accountNotFound }
            guard !accounts[Int(slot)].flags.contains(.closed) else { return .accountClosed }
            scratchSlots.append(slot)
            postingOffset += EventFormat.postingBytes
        }
        if let failure = checkBalancedPerLedger(p, o, postingCount: postingCount) { return failure }

        var expiresAtNs: UInt64 = 0
        if kind == .pending && timeoutSeconds > 0 {
            let (timeoutNs, overflowMul) = UInt64(timeoutSeconds).multipliedReportingOverflow(by: 1_000_000_000)
            let (sum, overflowAdd) = timestamp.addingReportingOverflow(timeoutNs)
            guard !overflowMul, !overflowAdd else { return .overflow }
            expiresAtNs = sum
        }

        // Compute every touched account's new balances on copies, check, then commit.
        scratchTouched.removeAll(keepingCapacity: true)
        scratchTouchedSlots.removeAll(keepingCapacity: true)
        postingOffset = o + EventFormat.entryHeaderBytes
        let pending = kind == .pending
        for index in 0..<postingCount {
            let slot = scratchSlots[index]
            let amount = _LE.u128(p, postingOffset + 16)
            let side = Side(rawValue: p[postingOffset + 32])
            let touchedIndex = touchedIndex(for: slot)
            let ok: Bool
            switch (side == .debit, pending) {
            case (true, false): ok = Self.add(&scratchTouched[touchedIndex].debitsPosted, amount)
            case (false, false): ok = Self.add(&scratchTouched[touchedIndex].creditsPosted, amount)
            case (true, true): ok = Self.add(&scratchTouched[touchedIndex].debitsPending, amount)
            case (false, true): ok = Self.add(&scratchTouched[touchedIndex].creditsPending, amount)
            }
            guard ok else { return .overflow }
            postingOffset += EventFormat.postingBytes
        }
        if let failure = checkOverdraftFlags() { return failure }
        if let failure = checkLedgerTotals() { return failure }
        commitTouched()

        if pending {
            var holdPostings: [HoldPosting] = []
            holdPostings.reserveCapacity(postingCount)
            postingOffset = o + EventFormat.entryHeaderBytes
            for index in 0..<postingCount {
                holdPostings.append(HoldPosting(
                    slot: scratchSlots[index], side: Side(rawValue: p[postingOffset + 32]), amount: _LE.u128(p, postingOffset + 16)))
                postingOffset += EventFormat.postingBytes
            }
            openHolds[id] = OpenHold(expiresAtNs: expiresAtNs, postings: holdPostings)
            if expiresAtNs != 0 { expiries.push(ExpiryHeap.Item(expiresAtNs: expiresAtNs, id: id)) }
        }
        return .ok
    }

    /// The pending entry `id` and its hold if the hold is still open, or the
    /// result code that says why not.
    @usableFromInline
    func findOpenHold(_ id: UInt128) -> HoldLookup {
        guard let record = entries[id] ?? (coldEntries.isEmpty ? nil : coldEntries[id]), record.kind == .pending else { return .rejected(.pendingNotFound) }
        switch record.holdState {
        case .settledLongAgo: return .rejected(.pendingSettledLongAgo)
        case .posted: return .rejected(.pendingAlreadyPosted)
        case .voided: return .rejected(.pendingAlreadyVoided)
        case .expired: return .rejected(.pendingExpired)
        case .open, .notAHold: break
        }
        guard let hold = openHolds[id] else { preconditionFailure("hold \(id) is open in entries but missing from openHolds") }
        return .open(record, hold)
    }

    @usableFromInline
    enum HoldLookup {
        case open(EntryRecord, OpenHold)
        case rejected(ResultCode)
    }

    /// postPending / voidPending.
    @usableFromInline
    mutating func settleHold(
        _ p: UnsafeRawBufferPointer, _ o: Int, postingCount: Int, kind: EntryKind, pendingID: UInt128, timestamp: UInt64
    ) -> ResultCode {
        var record: EntryRecord
        let hold: OpenHold
        switch findOpenHold(pendingID) {
        case .rejected(let code): return code
        case .open(let found, let open): (record, hold) = (found, open)
        }
        if hold.expiresAtNs != 0 && hold.expiresAtNs <= timestamp { return .pendingExpired }

        let posting = kind == .postPending
        let partial = posting && postingCount > 0
        if partial {
            guard postingCount == hold.postings.count else { return .postingsDifferFromPending }
            var postingOffset = o + EventFormat.entryHeaderBytes
            for held in hold.postings {
                guard accounts[Int(held.slot)].id == _LE.u128(p, postingOffset),
                    held.side.rawValue == p[postingOffset + 32]
                else { return .postingsDifferFromPending }
                guard _LE.u128(p, postingOffset + 16) <= held.amount else { return .amountExceedsPending }
                postingOffset += EventFormat.postingBytes
            }
            scratchSlots.removeAll(keepingCapacity: true)
            for held in hold.postings { scratchSlots.append(held.slot) }
            if let failure = checkBalancedPerLedger(p, o, postingCount: postingCount) { return failure }
        }

        scratchTouched.removeAll(keepingCapacity: true)
        scratchTouchedSlots.removeAll(keepingCapacity: true)
        var postingOffset = o + EventFormat.entryHeaderBytes
        for held in hold.postings {
            assert(!accounts[Int(held.slot)].flags.contains(.closed), "a closed account has an open hold")
            let touchedIndex = touchedIndex(for: held.slot)
            let debit = held.side == .debit
            // Release the hold. Underflow here would mean the pending balance
            // lost track of its holds: an invariant violation, so trap.
            if debit {
                scratchTouched[touchedIndex].debitsPending -= held.amount
            } else {
                scratchTouched[touchedIndex].creditsPending -= held.amount
            }
            if posting {
                let amount = partial ? _LE.u128(p, postingOffset + 16) : held.amount
                let ok = debit
                    ? Self.add(&scratchTouched[touchedIndex].debitsPosted, amount)
                    : Self.add(&scratchTouched[touchedIndex].creditsPosted, amount)
                guard ok else { return .overflow }
            }
            postingOffset += EventFormat.postingBytes
        }
        if let failure = checkOverdraftFlags() { return failure }
        if let failure = checkLedgerTotals() { return failure }
        commitTouched()
        record.holdState = posting ? .posted : .voided
        entries.set(pendingID, record)
        openHolds[pendingID] = nil
        return .ok
    }

    /// Per ledger of the accounts in `scratchSlots`, the entry's debits must
    /// equal its credits, and each ledger needs both sides.
    @usableFromInline
    mutating func checkBalancedPerLedger(
        _ p: UnsafeRawBufferPointer, _ o: Int, postingCount: Int
    ) -> ResultCode? {
        scratchLedgers.removeAll(keepingCapacity: true)
        var postingOffset = o + EventFormat.entryHeaderBytes
        for index in 0..<postingCount {
            let ledger = accounts[Int(scratchSlots[index])].ledger
            let amount = _LE.u128(p, postingOffset + 16)
            let debit = p[postingOffset + 32] == Side.debit.rawValue
            var ledgerIndex = 0
            while ledgerIndex < scratchLedgers.count && scratchLedgers[ledgerIndex].ledger != ledger { ledgerIndex += 1 }
            if ledgerIndex == scratchLedgers.count {
                scratchLedgers.append(LedgerSum(ledger: ledger, debits: 0, credits: 0))
            }
            let ok = debit
                ? Self.add(&scratchLedgers[ledgerIndex].debits, amount)
                : Self.add(&scratchLedgers[ledgerIndex].credits, amount)
            guard ok else { return .overflow }
            postingOffset += EventFormat.postingBytes
        }
        for sum in scratchLedgers where sum.debits == 0 || sum.credits == 0 { return .ledgerMismatch }
        for sum in scratchLedgers where sum.debits != sum.credits { return .unbalanced }
        return nil
    }

    @usableFromInline
    mutating func touchedIndex(for slot: Int32) -> Int {
        for index in 0..<scratchTouchedSlots.count where scratchTouchedSlots[index] == slot { return index }
        scratchTouchedSlots.append(slot)
        scratchTouched.append(accounts[Int(slot)])
        return scratchTouched.count - 1
    }

    @usableFromInline
    func checkOverdraftFlags() -> ResultCode? {
        for account in scratchTouched {
            if account.flags.contains(.debitsMustNotExceedCredits) {
                let (debits, overflow) = account.debitsPosted.addingReportingOverflow(account.debitsPending)
                if overflow || debits > account.creditsPosted { return .exceedsCredits }
            }
            if account.flags.contains(.creditsMustNotExceedDebits) {
                let (credits, overflow) = account.creditsPosted.addingReportingOverflow(account.creditsPending)
                if overflow || credits > account.debitsPosted { return .exceedsDebits }
            }
        }
        return nil
    }

    @usableFromInline
    mutating func commitTouched() {
        for (ledger, total) in scratchLedgerTotals { ledgerTotals[ledger] = total }
        for index in 0..<scratchTouched.count {
            let slot = scratchTouchedSlots[index]
            accounts[Int(slot)] = scratchTouched[index]
            markChanged(slot)
        }
    }

    @inlinable @inline(__always)
    static func add(_ value: inout UInt128, _ amount: UInt128) -> Bool {
        let (sum, overflow) = value.addingReportingOverflow(amount)
        if overflow { return false }
        value = sum
        return true
    }

    // MARK: Expiry

    /// Takes the ids of open holds whose expiry is at or before `timestamp`,
    /// in (expiry, id) order, at most `limit`, off the expiry heap. The caller
    /// must put every returned id into `expireHold` events of its next batch
    /// (the engine does, ahead of each client batch), so every expiry is an
    /// event in the log and in the segments. Replay never calls this: it
    /// applies the logged events, and heap items of holds settled some other
    /// way are discarded lazily here.
    public mutating func takeHoldsDue(atOrBefore timestamp: UInt64, limit: Int) -> [UInt128] {
        var due: [UInt128] = []
        while due.count < limit, let next = expiries.peek(), next.expiresAtNs <= timestamp || openHolds[next.id] == nil {
            _ = expiries.pop()
            if openHolds[next.id] != nil { due.append(next.id) }
        }
        return due
    }

    /// Releases hold `id` if it is open and due at `timestamp`.
    @usableFromInline
    mutating func applyExpireHold(_ id: UInt128, timestamp: UInt64) -> ResultCode {
        guard id != 0 else { return .idMustNotBeZero }
        var record: EntryRecord
        let hold: OpenHold
        switch findOpenHold(id) {
        case .rejected(let code): return code
        case .open(let found, let open): (record, hold) = (found, open)
        }
        guard hold.expiresAtNs != 0, hold.expiresAtNs <= timestamp else { return .holdNotDue }
        for held in hold.postings where held.side == .debit {
            ledgerTotals[accounts[Int(held.slot)].ledger, default: LedgerTotal()].pending -= held.amount
        }
        for held in hold.postings {
            // Underflow would mean pending balances lost track of holds: trap.
            if held.side == .debit {
                accounts[Int(held.slot)].debitsPending -= held.amount
            } else {
                accounts[Int(held.slot)].creditsPending -= held.amount
            }
            markChanged(held.slot)
        }
        openHolds[id] = nil
        record.holdState = .expired
        entries.set(id, record)
        return .ok
    }

    // MARK: Invariants

    /// Every broken invariant, described. Empty when the state is sound. O(n):
    /// for tests and `verify`, not the hot path.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var sums: [UInt32: (dp: UInt128, cp: UInt128, dq: UInt128, cq: UInt128)] = [:]
        var heldDebits = [UInt128](repeating: 0, count: accounts.count)
        var heldCredits = [UInt128](repeating: 0, count: accounts.count)
        for hold in openHolds.values {
            for held in hold.postings {
                if held.side == .debit { heldDebits[Int(held.slot)] += held.amount } else { heldCredits[Int(held.slot)] += held.amount }
            }
        }
        for (slot, account) in accounts.enumerated() {
            var sum = sums[account.ledger] ?? (0, 0, 0, 0)
            sum.dp &+= account.debitsPosted
            sum.cp &+= account.creditsPosted
            sum.dq &+= account.debitsPending
            sum.cq &+= account.creditsPending
            sums[account.ledger] = sum
            if account.debitsPending != heldDebits[slot] || account.creditsPending != heldCredits[slot] {
                problems.append("account \(account.id): pending \(account.debitsPending)/\(account.creditsPending) but open holds sum to \(heldDebits[slot])/\(heldCredits[slot])")
            }
            if account.flags.contains(.debitsMustNotExceedCredits) && Self.sumExceeds(account.debitsPosted, account.debitsPending, account.creditsPosted) {
                problems.append("account \(account.id): debits exceed credits despite its flag")
            }
            if account.flags.contains(.creditsMustNotExceedDebits) && Self.sumExceeds(account.creditsPosted, account.creditsPending, account.debitsPosted) {
                problems.append("account \(account.id): credits exceed debits despite its flag")
            }
        }
        // Sums wrap above (reported below through the totals, never trapped on).
        if let recomputed = Self.ledgerTotals(of: accounts) {
            if recomputed.filter({ $0.value != LedgerTotal() }) != ledgerTotals.filter({ $0.value != LedgerTotal() }) {
                problems.append("per-ledger totals kept by the state machine differ from the sums of the accounts")
            }
        } else {
            problems.append("a ledger's total posted or pending debits pass 2^128 - 1")
        }
        for (ledger, sum) in sums.sorted(by: { $0.key < $1.key }) {
            if sum.dp != sum.cp { problems.append("ledger \(ledger): posted debits \(sum.dp) != posted credits \(sum.cp)") }
            if sum.dq != sum.cq { problems.append("ledger \(ledger): pending debits \(sum.dq) != pending credits \(sum.cq)") }
        }
        return problems
    }

    /// a + b > limit, where an overflowing a + b exceeds any limit.
    static func sumExceeds(_ a: UInt128, _ b: UInt128, _ limit: UInt128) -> Bool {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow || sum > limit
    }
}

/// A binary min-heap of hold expiries ordered by (expiry, id), so expiry is
/// deterministic when several holds expire at the same nanosecond.
@usableFromInline
struct ExpiryHeap: Sendable, Hashable {
    @usableFromInline
    struct Item: Sendable, Hashable {
        var expiresAtNs: UInt64
        var id: UInt128
        static func < (a: Item, b: Item) -> Bool {
            a.expiresAtNs != b.expiresAtNs ? a.expiresAtNs < b.expiresAtNs : a.id < b.id
        }
    }
    var items: [Item] = []

    func peek() -> Item? { items.first }

    mutating func push(_ item: Item) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Item? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left] < items[smallest] { smallest = left }
            if right < items.count && items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
