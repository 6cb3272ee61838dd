// Growing the filter of evicted ids off the apply thread.
//
// A bloom filter cannot list its ids, so a bigger one is built from the
// sealed months' id tables: 1–2 s at 8–16M ids, on the apply thread at the
// month turn that overfilled the filter (Benchmarks/RESULTS.md, session 16),
// longer as history grows. So once a filter of at least
// `backgroundGrowthCapacityMin` ids is three quarters full, a thread of its
// own builds one for twice the ids of the sealed months (as an in-place
// growth sizes it: memory stays at most 2 × 16 bits per evicted id), while
// the current one, which still has room, keeps
// taking every evicted id and answering lookups; the ids evicted meanwhile
// are kept aside and added when the new filter replaces the old, under the
// lock. So the filter in use (and the one a snapshot captures) always holds
// every evicted id. Which ids the new one needs: every id evicted before the
// growth started is in a month before the window start of that eviction,
// and once filing has passed that start those months are sealed and
// registered; the growth waits for that, then reads them.

struct FilterGrowth {
    var evictedMeanwhile: [UInt128] = []
}

extension EvictedEntries {
    /// Starts building a bigger filter (under `lock`).
    func startGrowth(windowStartNs: UInt64) {
        precondition(growth == nil, "a second filter growth")
        growth = FilterGrowth()
        let capacity = filter.capacity + 1
        Thread { [self] in
            do {
                let bigger = try biggerFilter(capacityMin: capacity, windowStartNs: windowStartNs)
                lock.withLock { install(grown: bigger) }
            } catch {
                lock.withLock {
                    // A filter that cannot grow would stop the engine at the
                    // next eviction that overfills it: stop it now.
                    failure = failure ?? (error as? LedgerError ?? LedgerError(.io, "growing the filter of evicted ids: \(error)"))
                    growth = nil
                    lock.broadcast()
                }
            }
        }.startDetached()
    }

    /// Every id of the sealed months before `windowStartNs` and after, in a
    /// filter of at least `capacityMin` (on the growth's thread; `lock` not
    /// held while reading).
    private func biggerFilter(capacityMin: Int, windowStartNs: UInt64) throws -> EvictedIDFilter {
        let months: [SealedMonth] = try lock.withLock {
            while filedThroughNs < windowStartNs && failure == nil { lock.wait() }
            if let failure { throw failure }
            return sealed
        }
        growthWillRead?()
        var ids = 0
        var files: [MonthIndexFile] = []
        for month in months {
            try indexWrites?.awaitWritten(month.month)
            let file = try MonthIndexFile(
                storage: storage, path: layout.segmentIndexPath(month.month), month: month.month, directoryID: directoryID, monthRoot: month.monthRoot)
            ids += file.entryCount
            files.append(file)
        }
        // Room for the months' ids twice over: the ids evicted meanwhile
        // are among them or few.
        var bigger = EvictedIDFilter(capacity: max(capacityMin, 2 * ids))
        for file in files { try file.forEachEntryID { bigger.insert($0) } }
        return bigger
    }

    /// Replaces the filter with `grown` plus the ids evicted meanwhile
    /// (under `lock`), unless those overfill it (then the next eviction
    /// that needs room grows the filter in place).
    private func install(grown: EvictedIDFilter) {
        guard let growth else { preconditionFailure("a grown filter without a growth") }
        var grown = grown
        if grown.count + growth.evictedMeanwhile.count <= grown.capacity && grown.capacity > filter.capacity {
            for id in growth.evictedMeanwhile { grown.insert(id) }
            filter = grown
            filterGrowths.inBackground += 1
        }
        self.growth = nil
        lock.broadcast()
    }

    /// Returns once no growth is under way (at close: a growth waits at
    /// most for the filing of the groups before its eviction, all filed by
    /// then, or ends with the engine's failure).
    func awaitGrowth() {
        lock.withLock { while growth != nil && failure == nil { lock.wait() } }
    }
}
