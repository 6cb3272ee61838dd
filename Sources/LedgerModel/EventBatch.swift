// An encoded batch of events: the unit a client submits, the state machine
// applies and the WAL stores verbatim. See Specs/data-model.md.

/// An encoded batch. `bytes` holds `eventCount` events back to back.
public struct EventBatch: Sendable, Hashable {
    /// The events, encoded back to back (Specs/data-model.md, "Event encoding").
    public var bytes: [UInt8]
    public var eventCount: Int

    /// An empty batch; `append` adds events.
    public init() {
        bytes = []
        eventCount = 0
    }

    /// Wraps bytes received from a client after checking their structure.
    /// Engine-generated event kinds (`expireHold`) are refused.
    public init(validating bytes: [UInt8], eventCount: Int) throws {
        try bytes.withUnsafeBytes { (raw) throws in
            try EventBatchReader.validate(raw, eventCount: eventCount, allowEngineEvents: false)
        }
        self.bytes = bytes
        self.eventCount = eventCount
    }

    /// Wraps bytes already known to be valid (read back from the WAL, whose
    /// reader validated them).
    package init(bytes: [UInt8], eventCount: Int) {
        self.bytes = bytes
        self.eventCount = eventCount
    }

    public init(_ events: [Event]) {
        self.init()
        for event in events { append(event) }
    }

    public mutating func append(_ event: Event) {
        switch event {
        case .createAccount(let account): append(account)
        case .closeAccount(let id): appendClose(id)
        case .createEntry(let entry): append(entry)
        case .expireHold(let id): appendExpire(id)
        }
    }

    /// Appends an engine-generated hold expiry.
    public mutating func appendExpire(_ holdID: UInt128) {
        let start = grow(EventFormat.expireHoldBytes)
        bytes.withUnsafeMutableBytes { whole in
            let p = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            p[0] = EventFormat.kindExpireHold
            _LE.put(p, 16, holdID)
        }
        eventCount += 1
    }

    public mutating func append(_ account: NewAccount) {
        let start = grow(EventFormat.createAccountBytes)
        bytes.withUnsafeMutableBytes { whole in
            let p = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            p[EventFormat.kindOffset] = EventFormat.kindCreateAccount
            _LE.put(p, EventFormat.accountFlagsOffset, account.flags.rawValue)
            _LE.put(p, EventFormat.accountLedgerOffset, account.ledger)
            _LE.put(p, EventFormat.accountCodeOffset, account.code)
            _LE.put(p, EventFormat.idOffset, account.id)
            _LE.put(p, EventFormat.accountUserDataOffset, account.userData)
        }
        eventCount += 1
    }

    public mutating func appendClose(_ id: UInt128) {
        let start = grow(EventFormat.closeAccountBytes)
        bytes.withUnsafeMutableBytes { whole in
            let p = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            p[EventFormat.kindOffset] = EventFormat.kindCloseAccount
            _LE.put(p, EventFormat.idOffset, id)
        }
        eventCount += 1
    }

    /// Appends an entry. Traps on counts the format cannot represent (more
    /// than 65,535 postings or metadata bytes): that is a programmer error;
    /// the smaller semantic limits are per-event results.
    public mutating func append(_ entry: NewEntry) {
        precondition(entry.postings.count <= Int(UInt16.max), "postings \(entry.postings.count) exceed the UInt16 field")
        precondition(entry.metadata.count <= Int(UInt16.max), "metadata \(entry.metadata.count) exceeds the UInt16 field")
        let size = EventFormat.entryBytes(postingCount: entry.postings.count, metadataBytes: entry.metadata.count)
        let start = grow(size)
        bytes.withUnsafeMutableBytes { whole in
            let p = UnsafeMutableRawBufferPointer(rebasing: whole[start...])
            p[EventFormat.kindOffset] = EventFormat.kindCreateEntry
            p[EventFormat.entryKindOffset] = entry.kind.rawValue
            _LE.put(p, EventFormat.entryCodeOffset, entry.code)
            _LE.put(p, EventFormat.entryPostingCountOffset, UInt16(entry.postings.count))
            _LE.put(p, EventFormat.entryMetadataBytesOffset, UInt16(entry.metadata.count))
            _LE.put(p, EventFormat.entryTimeoutSecondsOffset, entry.timeoutSeconds)
            _LE.put(p, EventFormat.idOffset, entry.id)
            _LE.put(p, EventFormat.entryPendingIDOffset, entry.pendingID)
            _LE.put(p, EventFormat.entryUserDataOffset, entry.userData)
            var offset = EventFormat.entryHeaderBytes
            for posting in entry.postings {
                _LE.put(p, offset + EventFormat.postingAccountOffset, posting.accountID)
                _LE.put(p, offset + EventFormat.postingAmountOffset, posting.amount)
                p[offset + EventFormat.postingSideOffset] = posting.side.rawValue
                offset += EventFormat.postingBytes
            }
            for (index, byte) in entry.metadata.enumerated() { p[offset + index] = byte }
        }
        eventCount += 1
    }

    private mutating func grow(_ count: Int) -> Int {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: count))
        return start
    }

    /// Decodes every event (for display, tests and the CLI; not the hot path).
    public func events() -> [Event] {
        bytes.withUnsafeBytes { raw in
            var events: [Event] = []
            events.reserveCapacity(eventCount)
            EventBatchReader.forEach(raw, eventCount: eventCount) { offset, size in
                events.append(EventBatchReader.decode(raw, at: offset))
            }
            return events
        }
    }
}

/// Structural validation and iteration over encoded events.
public enum EventBatchReader {
    /// Size of the event starting at `offset`, or nil when it is structurally
    /// invalid (unknown kind, runs past the end, count above the format's
    /// limit, non-zero reserved byte).
    @inlinable
    public static func eventSize(_ p: UnsafeRawBufferPointer, at offset: Int) -> Int? {
        let remaining = p.count - offset
        guard remaining >= 1 else { return nil }
        switch p[offset] {
        case EventFormat.kindCreateAccount:
            guard remaining >= EventFormat.createAccountBytes else { return nil }
            guard p[offset + 1] == 0, _LE.isZero(p, offset + 10, 6) else { return nil }
            return EventFormat.createAccountBytes
        case EventFormat.kindCloseAccount, EventFormat.kindExpireHold:
            // Same layout: kind, 15 reserved bytes, a 128-bit id.
            guard remaining >= EventFormat.closeAccountBytes else { return nil }
            guard _LE.isZero(p, offset + 1, 15) else { return nil }
            return EventFormat.closeAccountBytes
        case EventFormat.kindCreateEntry:
            guard remaining >= EventFormat.entryHeaderBytes else { return nil }
            let postingCount = Int(_LE.u16(p, offset + EventFormat.entryPostingCountOffset))
            let metadataBytes = Int(_LE.u16(p, offset + EventFormat.entryMetadataBytesOffset))
            // Structural caps: one above the semantic limits, so that the
            // semantic check can still answer tooManyPostings/metadataTooLong
            // while a hostile count cannot make an event huge.
            guard postingCount <= Limits.entryPostingsMax + 1,
                metadataBytes <= Limits.entryMetadataBytesMax + 1
            else { return nil }
            guard _LE.u32(p, offset + 12) == 0 else { return nil }
            let size = EventFormat.entryBytes(postingCount: postingCount, metadataBytes: metadataBytes)
            guard remaining >= size else { return nil }
            var postingOffset = offset + EventFormat.entryHeaderBytes
            for _ in 0..<postingCount {
                guard _LE.isZero(p, postingOffset + 33, 7) else { return nil }
                postingOffset += EventFormat.postingBytes
            }
            let metadataEnd = postingOffset + metadataBytes
            guard _LE.isZero(p, metadataEnd, offset + size - metadataEnd) else { return nil }
            return size
        default:
            return nil
        }
    }

    /// Throws `malformedBatch` unless `p` holds exactly `eventCount` valid
    /// events and nothing else, within the batch limits. Engine-generated
    /// kinds are valid in the log but refused from clients.
    public static func validate(_ p: UnsafeRawBufferPointer, eventCount: Int, allowEngineEvents: Bool = true) throws {
        guard eventCount >= 1, eventCount <= Limits.batchEventsMax else {
            throw LedgerError(.batchTooLarge, "batch has \(eventCount) events; 1 to \(Limits.batchEventsMax) allowed")
        }
        guard p.count <= Limits.batchBytesMax else {
            throw LedgerError(.batchTooLarge, "batch has \(p.count) bytes; at most \(Limits.batchBytesMax) allowed")
        }
        var offset = 0
        for index in 0..<eventCount {
            guard let size = eventSize(p, at: offset) else {
                throw LedgerError(.malformedBatch, "event \(index) at byte \(offset) is malformed", offset: offset)
            }
            if !allowEngineEvents && p[offset] == EventFormat.kindExpireHold {
                throw LedgerError(.malformedBatch, "event \(index): expireHold events are generated by the engine, not submitted", offset: offset)
            }
            offset += size
        }
        guard offset == p.count else {
            throw LedgerError(.malformedBatch, "\(p.count - offset) trailing bytes after \(eventCount) events", offset: offset)
        }
    }

    /// Calls `body(offset, size)` for each event of an already validated batch.
    @inlinable
    public static func forEach(_ p: UnsafeRawBufferPointer, eventCount: Int, _ body: (Int, Int) -> Void) {
        var offset = 0
        for _ in 0..<eventCount {
            let size = eventSize(p, at: offset)!
            body(offset, size)
            offset += size
        }
    }

    /// Decodes one event of a validated batch.
    public static func decode(_ p: UnsafeRawBufferPointer, at o: Int) -> Event {
        switch p[o] {
        case EventFormat.kindCreateAccount:
            return .createAccount(
                NewAccount(
                    id: _LE.u128(p, o + EventFormat.idOffset), ledger: _LE.u32(p, o + EventFormat.accountLedgerOffset),
                    code: _LE.u16(p, o + EventFormat.accountCodeOffset),
                    flags: AccountFlags(rawValue: _LE.u16(p, o + EventFormat.accountFlagsOffset)), userData: _LE.u128(p, o + EventFormat.accountUserDataOffset))
            )
        case EventFormat.kindCloseAccount:
            return .closeAccount(_LE.u128(p, o + EventFormat.idOffset))
        case EventFormat.kindExpireHold:
            return .expireHold(_LE.u128(p, o + EventFormat.idOffset))
        default:
            let postingCount = Int(_LE.u16(p, o + EventFormat.entryPostingCountOffset))
            let metadataBytes = Int(_LE.u16(p, o + EventFormat.entryMetadataBytesOffset))
            var postings: [Posting] = []
            postings.reserveCapacity(postingCount)
            var offset = o + EventFormat.entryHeaderBytes
            for _ in 0..<postingCount {
                postings.append(
                    Posting(
                        accountID: _LE.u128(p, offset + EventFormat.postingAccountOffset), amount: _LE.u128(p, offset + EventFormat.postingAmountOffset),
                        side: Side(rawValue: p[offset + EventFormat.postingSideOffset])))
                offset += EventFormat.postingBytes
            }
            return .createEntry(
                NewEntry(
                    id: _LE.u128(p, o + EventFormat.idOffset), kind: EntryKind(rawValue: p[o + EventFormat.entryKindOffset]), postings: postings,
                    pendingID: _LE.u128(p, o + EventFormat.entryPendingIDOffset), timeoutSeconds: _LE.u32(p, o + EventFormat.entryTimeoutSecondsOffset),
                    code: _LE.u16(p, o + EventFormat.entryCodeOffset),
                    userData: _LE.u128(p, o + EventFormat.entryUserDataOffset), metadata: Array(p[offset..<(offset + metadataBytes)])))
        }
    }
}
