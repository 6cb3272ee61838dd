// Journal entries: new entries (single-phase or pending, i.e. holds), and the
// settlement of holds (postPending, voidPending). An entry is checked in
// full against scratch copies of the accounts it touches and committed only
// if every check passes, so a failed entry changes nothing.

extension LedgerStateMachine {
    // MARK: Entries

    @usableFromInline
    mutating func applyEntry(_ p: UnsafeRawBufferPointer, _ o: Int, size: Int, timestamp: UInt64) -> ResultCode {
        let kind = EntryKind(rawValue: p[o + EventFormat.entryKindOffset])
        let postingCount = Int(_LE.u16(p, o + EventFormat.entryPostingCountOffset))
        let metadataBytes = Int(_LE.u16(p, o + EventFormat.entryMetadataBytesOffset))
        let timeoutSeconds = _LE.u32(p, o + EventFormat.entryTimeoutSecondsOffset)
        let id = _LE.u128(p, o + EventFormat.idOffset)
        let pendingID = _LE.u128(p, o + EventFormat.entryPendingIDOffset)

        // 1. Field checks: no state is read.
        guard id != 0 else { return .idMustNotBeZero }
        guard kind.rawValue <= EntryKind.voidPending.rawValue else { return .invalidEntryKind }
        guard postingCount <= Limits.entryPostingsMax else { return .tooManyPostings }
        guard metadataBytes <= Limits.entryMetadataBytesMax else { return .metadataTooLong }
        var postingOffset = o + EventFormat.entryHeaderBytes
        for _ in 0..<postingCount {
            guard _LE.u128(p, postingOffset + EventFormat.postingAmountOffset) != 0 else { return .amountMustNotBeZero }
            guard Side(rawValue: p[postingOffset + EventFormat.postingSideOffset]).isValid else { return .invalidSide }
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
            entries.insertNew(
                id,
                EntryRecord(
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
            let amount = _LE.u128(p, postingOffset + EventFormat.postingAmountOffset)
            let side = Side(rawValue: p[postingOffset + EventFormat.postingSideOffset])
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
                holdPostings.append(
                    HoldPosting(
                        slot: scratchSlots[index], side: Side(rawValue: p[postingOffset + EventFormat.postingSideOffset]),
                        amount: _LE.u128(p, postingOffset + EventFormat.postingAmountOffset)))
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
                    held.side.rawValue == p[postingOffset + EventFormat.postingSideOffset]
                else { return .postingsDifferFromPending }
                guard _LE.u128(p, postingOffset + EventFormat.postingAmountOffset) <= held.amount else { return .amountExceedsPending }
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
                let amount = partial ? _LE.u128(p, postingOffset + EventFormat.postingAmountOffset) : held.amount
                let ok =
                    debit
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
            let amount = _LE.u128(p, postingOffset + EventFormat.postingAmountOffset)
            let debit = p[postingOffset + EventFormat.postingSideOffset] == Side.debit.rawValue
            var ledgerIndex = 0
            while ledgerIndex < scratchLedgers.count && scratchLedgers[ledgerIndex].ledger != ledger { ledgerIndex += 1 }
            if ledgerIndex == scratchLedgers.count {
                scratchLedgers.append(LedgerSum(ledger: ledger, debits: 0, credits: 0))
            }
            let ok =
                debit
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
}
