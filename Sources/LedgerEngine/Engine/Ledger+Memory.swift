// What the engine's largest in-memory structures take, for the memory bound
// (issue 13, target 4: RSS after open at 50M entries). Counted from the
// structures' allocated capacities (what the process holds), not their
// contents — except the open month's per-event arrays, reserved ahead from
// the segment's size and counted by what they hold (room never written is
// address space, not memory); malloc overhead, the page cache and thread
// stacks are not in it.

extension Ledger {
    /// Bytes held by each large structure, named; read between groups.
    public func memoryReport() throws -> [(name: String, bytes: Int)] {
        let evicted = self.evicted
        let machineParts = try read { $0.memoryReport() }
        let segmentParts = try readSegments { $0.memoryReport() }
        return machineParts + [("filter of evicted ids", evicted.filterBytes)] + segmentParts
    }
}

extension IDTable {
    var allocatedBytes: Int { buckets.capacity * MemoryLayout<Bucket>.stride }
}

extension LedgerStateMachine {
    func memoryReport() -> [(name: String, bytes: Int)] {
        let holdPostings = openHolds.values.reduce(0) { $0 + $1.postings.capacity }
        return [
            ("entry records (resident window)", (entries.shards + entries.overlays).reduce(0) { $0 + $1.allocatedBytes }),
            ("accounts", accounts.capacity * MemoryLayout<Account>.stride + accountSlotByID.allocatedBytes),
            (
                "open holds",
                openHolds.capacity * (MemoryLayout<UInt128>.stride + MemoryLayout<OpenHold>.stride) + holdPostings * MemoryLayout<HoldPosting>.stride
            ),
        ]
    }
}

extension SegmentFiler {
    func memoryReport() -> [(name: String, bytes: Int)] {
        [("segment state (balances, holds)", state.allocatedBytes), ("open month's index", currentIndex?.allocatedBytes ?? 0)]
    }
}

extension SegmentState {
    var allocatedBytes: Int {
        accounts.capacity * MemoryLayout<SegmentAccount>.stride + slotByID.allocatedBytes + holds.capacity
            * (MemoryLayout<UInt128>.stride + MemoryLayout<SegmentHold>.stride)
    }
}

extension ChunkedLists {
    var allocatedBytes: Int {
        pages.reduce(0) { $0 + $1.capacity * MemoryLayout<Element>.stride } + (counts.capacity + nextPositions.capacity) * 8
            + chunkStarts.reduce(0) { $0 + $1.capacity * 8 }
    }
}
