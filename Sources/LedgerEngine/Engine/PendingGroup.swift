// One group on its way from the apply thread to durability and filing.
// Three of them rotate, so the next group is applied and encoded while the
// previous one is written and synced and the one before it is filed; each
// owns its buffers, reused for every group.
#if canImport(Glibc)
    import Glibc
#endif

extension Ledger {
    struct GroupMember {
        var completion: Completion
        var resultStart: Int
        var eventCount: Int
    }

    final class PendingGroup {
        /// Record header space, then the payload (see Specs/wal-format.md).
        let record: UnsafeMutableRawBufferPointer
        var payloadBytes = 0
        /// Set once the group is durable.
        var lsn: UInt64 = 0
        /// Set by the apply thread: groups encoded since the engine opened,
        /// this one included (SnapshotCapture.swift).
        var number: UInt64 = 0
        var members: [GroupMember] = []
        var results: [ResultCode] = []
        /// The accounts this group changed, with their values after it: the
        /// index gets them with this group's LSN once it is durable (the
        /// apply thread may already be changing them again).
        var changedSlots: [Int32] = []
        var changedAccounts: [Account] = []

        init() {
            // Zeroed pages the kernel provides on first touch, instead of
            // writing 16 MiB of zeros per buffer at every open.
            record = AnonymousMemory.allocate(bytes: WALFormat.recordBytes(payloadBytes: WALFormat.recordPayloadBytesMax))
            members.reserveCapacity(1024)
            results.reserveCapacity(Limits.batchEventsMax * 2)
        }

        deinit { AnonymousMemory.release(record) }

        /// The whole payload buffer (`WALFormat.recordPayloadBytesMax`).
        var payloadBuffer: UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(rebasing: record[WALFormat.recordHeaderBytes...])
        }

        /// The group's payload as encoded so far.
        var payload: UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(rebasing: record[WALFormat.recordHeaderBytes..<(WALFormat.recordHeaderBytes + payloadBytes)])
        }

        func reset() {
            payloadBytes = 0
            members.removeAll(keepingCapacity: true)
            results.removeAll(keepingCapacity: true)
            changedSlots.removeAll(keepingCapacity: true)
            changedAccounts.removeAll(keepingCapacity: true)
        }

        /// Each member's results, committed at `lsn`.
        func committed(lsn: UInt64) -> [(Completion, Committed)] {
            members.map { ($0.completion, Committed(results: Array(results[$0.resultStart..<($0.resultStart + $0.eventCount)]), lsn: lsn)) }
        }

        /// Completes every member with its results, durable at `lsn`.
        func complete(lsn: UInt64) {
            for (completion, committed) in committed(lsn: lsn) { completion(.success(committed)) }
        }

        func fail(_ error: LedgerError) {
            for member in members { member.completion(.failure(error)) }
        }
    }
}
