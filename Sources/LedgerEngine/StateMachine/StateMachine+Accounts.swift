// Creating and closing accounts (event kinds createAccount, closeAccount;
// Specs/data-model.md).

extension LedgerStateMachine {
    // MARK: Accounts

    @usableFromInline
    mutating func applyCreateAccount(_ p: UnsafeRawBufferPointer, _ o: Int, timestamp: UInt64) -> ResultCode {
        let id = _LE.u128(p, o + EventFormat.idOffset)
        let flags = AccountFlags(rawValue: _LE.u16(p, o + EventFormat.accountFlagsOffset))
        let ledger = _LE.u32(p, o + EventFormat.accountLedgerOffset)
        let code = _LE.u16(p, o + EventFormat.accountCodeOffset)
        let userData = _LE.u128(p, o + EventFormat.accountUserDataOffset)
        guard id != 0 else { return .idMustNotBeZero }
        guard ledger != 0 else { return .ledgerMustNotBeZero }
        guard AccountFlags.clientSettable.isSuperset(of: flags) else { return .reservedFlag }
        guard !flags.isSuperset(of: [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits]) else {
            return .flagsAreMutuallyExclusive
        }
        if let slot = accountSlotByID[id] {
            let existing = accounts[Int(slot)]
            let same =
                existing.ledger == ledger && existing.code == code && existing.userData == userData
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
        let id = _LE.u128(p, o + EventFormat.idOffset)
        guard id != 0 else { return .idMustNotBeZero }
        guard let slot = accountSlotByID[id] else { return .accountNotFound }
        let account = accounts[Int(slot)]
        guard !account.flags.contains(.closed) else { return .accountAlreadyClosed }
        guard account.debitsPending == 0, account.creditsPending == 0 else { return .accountHasPendingBalance }
        accounts[Int(slot)].flags.insert(.closed)
        markChanged(slot)
        return .ok
    }
}
