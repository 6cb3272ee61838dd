// Recovery opens the segments on a thread of their own while it loads the
// snapshot and replays the WAL. The sealed months open from their seals in
// moments; the open month is scanned and indexed, which took 5 s of a 7.5-s
// restart of the 50M-entry directory (Benchmarks/RESULTS.md, issue 13), so
// the replay does not wait for it: it files nothing while the month is
// scanned, and once the segments are ready a second pass over the WAL files
// what they lack, in order (`catchUp`).
//
// What the replay needs from the segments meanwhile is the sealed months:
// lookups of ids evicted from the resident window read them. The window
// starts at the month of the last event applied, so while every replayed
// event lies in the open month or before it, every evicted id is in a month
// the first phase registered. A record with an event past the open month
// (the WAL runs a month ahead of the segments) would move the window past
// what the segments hold; before such a record recovery waits for the
// segments, catches up and files every later record as it is replayed, as
// it did before this overlap.

import Dispatch

final class SegmentsOpening {
    private let opening: ThreadedResult<SegmentFiler>
    /// Set once the sealed months are registered: the open month the thread
    /// is still scanning (nil when there is none), or the failure.
    private let sealedMonths = Guarded<Result<UTCMonth?, any Error>?>(nil)
    private let ready = ConditionLock()
    private var joined: SegmentFiler?
    /// How long the thread took to scan and index the open month (read
    /// after `value()`: for the recovery report).
    private let openMonthNs = Guarded<UInt64>(0)
    var openMonthIndexedNs: UInt64 { openMonthNs.withLock { $0 } }

    init(storage: any Storage, layout: DataDirectoryLayout, directoryID: [UInt8], readOnly: Bool, evicted: EvictedEntries, log: @escaping (String) -> Void) {
        let sealedMonths = self.sealedMonths
        let ready = self.ready
        let openMonthNs = self.openMonthNs
        func publish(_ result: Result<UTCMonth?, any Error>) {
            ready.withLock {
                sealedMonths.withLock { $0 = result }
                ready.broadcast()
            }
        }
        opening = ThreadedResult {
            do {
                let filer = try SegmentFiler(
                    storage: storage, layout: layout, directoryID: directoryID, readOnly: readOnly, deferringOpenMonth: true, log: log)
                filer.evicted = evicted
                publish(.success(filer.deferredMonth))
                let startNs = DispatchTime.now().uptimeNanoseconds
                try filer.openDeferredMonth()
                openMonthNs.withLock { $0 = DispatchTime.now().uptimeNanoseconds - startNs }
                return filer
            } catch {
                // A lookup waiting for filing progress must not wait forever.
                evicted.fail(error as? LedgerError ?? LedgerError(.io, "opening the segments failed: \(error)"))
                publish(.failure(error))
                throw error
            }
        }
    }

    /// Waits until the sealed months are registered; returns the open month
    /// still being scanned (nil: none, the segments are ready). Throws what
    /// opening the sealed months threw.
    func openMonthBeingScanned() throws -> UTCMonth? {
        try ready.withLock {
            while sealedMonths.withLock({ $0 }) == nil { ready.wait() }
            return try sealedMonths.withLock { $0! }.get()
        }
    }

    /// The segments, fully open (joins the thread; call on every path).
    func value() throws -> SegmentFiler {
        if let joined { return joined }
        let filer = try opening.value()
        joined = filer
        return filer
    }

    /// Files the WAL's group records from the first one the segments may
    /// lack through `throughLSN` (the last one replayed; 0: none yet).
    static func catchUp(_ segments: SegmentFiler, storage: any Storage, layout: DataDirectoryLayout, throughLSN: UInt64) throws {
        let fromLSN = max(segments.lastFiledLSN, 1)
        guard throughLSN >= fromLSN else { return }
        _ = try WALReader(storage: storage, layout: layout).scan(mode: .recover, fromLSN: fromLSN, throughLSN: throughLSN) { record in
            if record.header.lsn >= fromLSN && record.header.type == WALFormat.recordTypeGroup {
                try segments.file(groupPayload: record.payload, lsn: record.header.lsn)
            }
        }
    }

    /// The timestamp of the last event of a group record (nil when its
    /// payload does not parse: the replay then names the damage).
    static func lastTimestamp(ofGroup payload: UnsafeRawBufferPointer) -> UInt64? {
        var last: UInt64?
        do {
            try WALGroupPayload.forEachBatch(payload, validateEvents: false) { batch in
                last = batch.timestamp + UInt64(batch.eventCount) - 1
            }
        } catch {
            return nil
        }
        return last
    }
}
