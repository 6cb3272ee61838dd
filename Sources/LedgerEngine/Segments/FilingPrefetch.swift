// Filing an event touches, per account it names, a hash bucket (id → slot),
// the account's record in the segment state, its summary in the month's
// index and the tail of its event list: four arrays, each too big to stay
// cached beside the stream of segment bytes, so one event at a time each
// load missed the cache in turn (the filing thread's and the restart's top
// costs: `SegmentState.markTouched`, 81% of it on one load,
// `MonthIndexBuilder.add`, `ChunkedLists.append`, `IDTable.find`;
// Benchmarks/RESULTS.md, issue 13). `FilingLookahead` starts those loads
// ahead: the buckets of the event `2 × distance − 1` ahead, then, once
// they are in, the records, summaries and list tails of the event
// `distance − 1` ahead. Prefetches never change state and never fault, so
// a lookahead over bytes not yet checked is harmless: it only reads them
// (within the buffer it was given; the owner clears it with the buffer).

import CPrefetch

/// A cursor `2 × distance − 1` events ahead of the one being filed; the
/// offsets it passed are kept in a ring, so the events `distance − 1` ahead
/// are found again without parsing.
struct FilingLookahead {
    static let distance = 8
    /// How many postings of an event are prefetched (an entry has up to 128;
    /// nearly all have 2).
    static let postingsMax = 4

    /// The events from the one `restart` began at.
    private var events = UnsafeRawBufferPointer(start: nil, count: 0)
    private var far = 0
    /// Offsets of the last `distance` events the far cursor passed (−1:
    /// none), oldest at `ringNext`.
    private var ring = [Int](repeating: -1, count: FilingLookahead.distance)
    private var ringNext = 0
    /// Bytes of framing before each event (a segment record's header, whose
    /// first 4 bytes are the event's length), or 0 for a batch's events.
    private let headerBytes: Int

    /// Over a batch's events (each sized by its own encoding).
    static func batchEvents() -> FilingLookahead { FilingLookahead(headerBytes: 0) }
    /// Over segment records (header, then the event).
    static func segmentRecords() -> FilingLookahead { FilingLookahead(headerBytes: SegmentFormat.recordHeaderBytes) }

    private init(headerBytes: Int) { self.headerBytes = headerBytes }

    /// The events to prefetch for at one step: buckets of `far`, records
    /// of `near` (nil past the end).
    struct Step {
        var far: UnsafeRawBufferPointer?
        var near: UnsafeRawBufferPointer?
    }

    /// Starts over at `events` (the first is the next one to be filed):
    /// `warmUp` gets the buckets and records of the first `distance`
    /// events at once, then the buckets of the next `distance`, whose
    /// records the following steps return.
    mutating func restart(at events: UnsafeRawBufferPointer, warmUp: (Step) -> Void) {
        self.events = events
        far = 0
        for _ in 0..<Self.distance {
            let event = event(at: far)
            warmUp(Step(far: event, near: nil))
            warmUp(Step(far: nil, near: event))
            far = next(after: far, event)
        }
        for i in 0..<Self.distance {
            let event = event(at: far)
            ring[i] = event == nil ? -1 : far
            warmUp(Step(far: event, near: nil))
            far = next(after: far, event)
        }
        ringNext = 0
    }

    /// Forgets the events (the cursor keeps no pointer into a buffer its
    /// owner may free).
    mutating func clear() {
        events = UnsafeRawBufferPointer(start: nil, count: 0)
        far = 0
        for i in 0..<Self.distance { ring[i] = -1 }
    }

    /// Call once per event after the first (the one `restart` began at),
    /// before filing it: the events `2 × distance` and `distance` ahead.
    mutating func advance() -> Step {
        let event = event(at: far)
        let nearOffset = ring[ringNext]
        ring[ringNext] = event == nil ? -1 : far
        ringNext = (ringNext + 1) % Self.distance
        far = next(after: far, event)
        return Step(far: event, near: nearOffset < 0 ? nil : self.event(at: nearOffset))
    }

    private func next(after offset: Int, _ event: UnsafeRawBufferPointer?) -> Int {
        guard let event else { return events.count }
        return offset + headerBytes + event.count
    }

    /// The event at `offset`, or nil past the end (or where the bytes do not
    /// frame an event). Sizes only, no validation: the bytes are only read.
    private func event(at offset: Int) -> UnsafeRawBufferPointer? {
        guard offset >= 0, offset + headerBytes < events.count else { return nil }
        let start = offset + headerBytes
        let size: Int
        if headerBytes > 0 {
            size = Int(_LE.u32(events, offset))
        } else {
            switch events[start] {
            case EventFormat.kindCreateAccount: size = EventFormat.createAccountBytes
            case EventFormat.kindCloseAccount, EventFormat.kindExpireHold: size = EventFormat.closeAccountBytes
            case EventFormat.kindCreateEntry:
                guard start + EventFormat.entryHeaderBytes <= events.count else { return nil }
                size = EventFormat.entryBytes(
                    postingCount: Int(_LE.u16(events, start + EventFormat.entryPostingCountOffset)),
                    metadataBytes: Int(_LE.u16(events, start + EventFormat.entryMetadataBytesOffset)))
            default: return nil
            }
        }
        guard size > 0, size <= events.count - start else { return nil }
        return UnsafeRawBufferPointer(rebasing: events[start..<(start + size)])
    }
}

extension SegmentState {
    /// Starts loading what filing the events of `step` will read: the
    /// hash buckets of the accounts `far` names, the records of those
    /// `near` names, and (`index`) their month summaries and list tails.
    func prefetch(_ step: FilingLookahead.Step, index: inout MonthIndexBuilder) {
        // Plain loops, no closures: a closure capturing `index` made each
        // call copy the builder's lists (a retain and a release per event;
        // Benchmarks/RESULTS.md, session 17).
        if let far = step.far {
            for i in 0..<Self.accountIDCount(of: far) { slotByID.prefetch(Self.accountID(of: far, i)) }
        }
        if let near = step.near {
            for i in 0..<Self.accountIDCount(of: near) {
                guard let slot = slotByID[Self.accountID(of: near, i)] else { continue }
                prefetchAccount(slot)
                index.prefetch(stateSlot: slot)
            }
        }
    }

    /// Starts loading an account's record.
    private func prefetchAccount(_ slot: Int32) {
        accounts.withUnsafeBufferPointer { accounts in
            guard slot >= 0, Int(slot) < accounts.count else { return }
            let address = UnsafeRawPointer(accounts.baseAddress! + Int(slot))
            ledger_prefetch_for_write(address)
            ledger_prefetch_for_write(address + MemoryLayout<SegmentAccount>.stride - 1)
        }
    }

    /// How many account ids an event names (`accountID(of:_:)`): an
    /// entry's postings (the first `FilingLookahead.postingsMax` of those
    /// inside the bytes), or the account it closes.
    private static func accountIDCount(of p: UnsafeRawBufferPointer) -> Int {
        guard p.count > EventFormat.kindOffset else { return 0 }
        switch p[EventFormat.kindOffset] {
        case EventFormat.kindCreateEntry:
            guard p.count >= EventFormat.entryHeaderBytes else { return 0 }
            let named = min(Int(_LE.u16(p, EventFormat.entryPostingCountOffset)), FilingLookahead.postingsMax)
            return min(named, (p.count - EventFormat.entryHeaderBytes) / EventFormat.postingBytes)
        case EventFormat.kindCloseAccount:
            return p.count >= EventFormat.idOffset + 16 ? 1 : 0
        default:
            return 0
        }
    }

    /// The `i`th account id of `accountIDCount(of:)`.
    private static func accountID(of p: UnsafeRawBufferPointer, _ i: Int) -> UInt128 {
        if p[EventFormat.kindOffset] == EventFormat.kindCloseAccount { return _LE.u128(p, EventFormat.idOffset) }
        return _LE.u128(p, EventFormat.entryHeaderBytes + i * EventFormat.postingBytes + EventFormat.postingAccountOffset)
    }
}

extension ChunkedLists {
    /// Starts loading where the list's next element goes (when its last
    /// chunk has room; a new chunk is allocated elsewhere).
    func prefetchTail(_ list: Int) {
        guard list >= 0, list < counts.count, counts[list] > 0 else { return }
        let position = nextPositions[list]
        let page = position >> 32
        let offset = position & 0xFFFF_FFFF
        // Through the pages' buffer: `pages[page]` would copy the page's
        // array (a retain and a release per call).
        pages.withUnsafeBufferPointer { pages in
            guard page < pages.count else { return }
            pages[page].withUnsafeBufferPointer { elements in
                guard offset < elements.count else { return }
                ledger_prefetch_for_write(elements.baseAddress! + offset)
            }
        }
    }
}
