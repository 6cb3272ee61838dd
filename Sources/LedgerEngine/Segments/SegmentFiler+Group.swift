// Filing one WAL group's applied events: each into the segment of its UTC
// month (sealing a month when an event of the next one arrives), indexed
// as it goes (SegmentFiler.swift).

extension SegmentFiler {
    /// Files the applied events of one WAL group record. The payload must
    /// already be validated (encoded by the engine, or replayed).
    public func file(groupPayload payload: UnsafeRawBufferPointer, lsn: UInt64) throws {
        precondition(deferredMonth == nil, "filing before the deferred open month was scanned")
        var filedUntil = lastFiledTimestamp
        // The open month's writer and bounds, looked up again only when an
        // event falls outside them (month arithmetic is not free per event).
        var writer = current
        var monthRange = current.map { $0.header.month.startNs..<$0.header.month.next.startNs } ?? 0..<0
        // What filing an event changes is moved out of the filer for the
        // group and back (never copied: a copy would make the next write
        // duplicate the arrays): as the filer's stored properties, every
        // event paid dynamic exclusivity checks and copies of the state
        // (retains), ~20% of the filing thread (Benchmarks/RESULTS.md,
        // session 17). Nothing else reads them while a group is filed; a
        // month's seal does, so they are put back around it.
        var work = takeWork()
        defer { putBack(&work) }
        var lookahead = FilingLookahead.batchEvents()
        swap(&lookahead, &self.lookahead)
        defer { swap(&lookahead, &self.lookahead) }
        try WALGroupPayload.forEachBatch(payload, validateEvents: false) { batch in
            var index = 0
            var offset = 0
            while index < batch.eventCount {
                guard let size = EventBatchReader.eventSize(batch.events, at: offset) else {
                    preconditionFailure("filing a batch that was not validated")
                }
                // Restarted at every batch: the cursor never reads another
                // batch's bytes (prefetches only while a month is open).
                if index == 0 {
                    lookahead.restart(at: batch.events) { work.prefetch($0) }
                } else {
                    work.prefetch(lookahead.advance())
                }
                let timestamp = batch.timestamp + UInt64(index)
                if batch.results[index] == ResultCode.ok.rawValue && timestamp > filedUntil && self.readOnly {
                    self.eventsNotFiled += 1
                } else if batch.results[index] == ResultCode.ok.rawValue && timestamp > filedUntil {
                    if !monthRange.contains(timestamp) {
                        self.putBack(&work)
                        let next = try self.writer(for: timestamp)
                        work = self.takeWork()
                        writer = next
                        monthRange = next.header.month.startNs..<next.header.month.next.startNs
                    }
                    let event = UnsafeRawBufferPointer(rebasing: batch.events[offset..<(offset + size)])
                    let recordOffset = try writer!.append(event: event, lsn: lsn, timestamp: timestamp)
                    try Self.add(event, offset: recordOffset, timestamp: timestamp, to: &work.index!, state: &work.state, path: writer!.path)
                    work.eventsFiled += 1
                    filedUntil = timestamp
                }
                offset += size
                index += 1
            }
        }
        lookahead.clear()
        evicted?.filed(throughNs: filedUntil)
    }

    /// The filer's state and open month's index, moved out while
    /// a group is filed (`file(groupPayload:lsn:)`).
    struct Work {
        var state: SegmentState
        var index: MonthIndexBuilder?
        var eventsFiled = 0
        /// False once put back (a throw after a month's seal put it back).
        var isOut = true

        mutating func prefetch(_ step: FilingLookahead.Step) {
            if index != nil { state.prefetch(step, index: &index!) }
        }
    }

    private func takeWork() -> Work {
        var work = Work(state: SegmentState(), index: currentIndex.take())
        swap(&work.state, &state)
        return work
    }

    private func putBack(_ work: inout Work) {
        guard work.isOut else { return }
        work.isOut = false
        precondition(currentIndex == nil, "the open month's index is both in the filer and moved out")
        swap(&work.state, &state)
        currentIndex = work.index.take()
        eventsFiled += work.eventsFiled
        work.eventsFiled = 0
    }
}
