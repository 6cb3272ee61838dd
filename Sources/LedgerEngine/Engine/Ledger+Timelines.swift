// Roles and timelines (Specs/replication.md, "Promotion and timelines").
//
// A directory is a primary, a standby (`standby.signal`) or a superseded
// primary (`superseded`: it learned that a standby was promoted past it,
// and takes no writes again). Promotion turns a standby into a primary on a
// new timeline, in this crash-safe order: the timeline record appended to
// the WAL and fdatasync'd (from here on the log says the node forked) →
// `timeline-history` rewritten → `superseded` and `standby.signal`
// removed, the directory fsynced → writes accepted. A crash before the
// signal's removal leaves a standby on the new timeline (recovery adds the
// history row from the record); promoting it again forks once more, which
// is harmless: timelines only need to increase.

extension Ledger {
    enum Role: Equatable, Sendable {
        case primary
        case standby
        /// Learned of the newer timeline; refuses writes.
        case superseded(timeline: UInt64)
    }

    /// The role the files give: `standby.signal`, then `superseded`.
    static func role(storage: any Storage, layout: DataDirectoryLayout) throws -> Role {
        if storage.fileExists(layout.standbySignalPath) { return .standby }
        guard storage.fileExists(layout.supersededPath) else { return .primary }
        let file = try storage.openFileForReading(layout.supersededPath)
        defer { file.close() }
        let size = try file.size()
        let text = size <= 64 ? String(decoding: try file.readExactly(size, at: 0), as: UTF8.self) : ""
        guard text.hasPrefix("timeline="), text.hasSuffix("\n"), let timeline = UInt64(text.dropFirst(9).dropLast()), timeline >= 2 else {
            throw LedgerError(.corruption, "the superseded marker is not 'timeline=N'; investigate with `ledgerctl status`", path: layout.supersededPath)
        }
        return .superseded(timeline: timeline)
    }

    var role: Role { roleState.withLock { $0.role } }

    /// A standby: it applies a primary's mirrored log and refuses writes.
    public var isStandby: Bool { role == .standby }

    /// A primary that was not superseded.
    public var takesWrites: Bool { role == .primary }

    /// The timeline this log's end is on (1 before any promotion).
    public var timeline: UInt64 { roleState.withLock { $0.timelines.current } }

    /// Every promotion this log went through.
    public var timelineHistory: TimelineHistory { roleState.withLock { $0.timelines } }

    /// Nil while this directory takes writes; else the refusal (`notPrimary`).
    var writeRefusal: LedgerError? {
        switch role {
        case .primary: return nil
        case .standby: return LedgerError(.notPrimary, "this data directory is a standby: writes go to its primary")
        case .superseded(let newer):
            return LedgerError(
                .notPrimary,
                "this primary was superseded: a standby was promoted to timeline \(newer); writes go to the new primary (make this node its standby: a new base backup)"
            )
        }
    }

    /// Promotes this standby: a new timeline forking at its last LSN (the
    /// order in the header). Returns the switch written.
    @discardableResult
    public func promote(clockNs: UInt64 = Ledger.wallClockNs()) throws -> TimelineSwitch {
        try exclusively { try self.promoteOnApplyThread(clockNs: clockNs) }
    }

    private func promoteOnApplyThread(clockNs: UInt64) throws -> TimelineSwitch {
        guard role == .standby else { throw LedgerError(.invalidInput, "only a standby is promoted; this directory takes writes already or was superseded") }
        var history = timelineHistory
        let row = TimelineSwitch(
            timeline: history.current + 1, forkLSN: wal.nextLSN - 1, previousTimeline: history.current, clockNs: clockNs, chainValue: chain.head)
        do {
            row.encode(into: wal.payloadBuffer)
            let lsn = try wal.append(type: WALFormat.recordTypeTimeline, payloadBytes: TimelineSwitch.payloadBytes)
            try wal.sync()
            lastLSN.advance(to: lsn)
            try history.append(row)
            try TimelineHistoryFile.write(history, storage: storage, layout: layout)
            if storage.fileExists(layout.supersededPath) { try storage.removeFile(layout.supersededPath) }
            try storage.removeFile(layout.standbySignalPath)
            try storage.syncDirectory(layout.root)
        } catch {
            // The record may be durable: recovery decides what the log says.
            let stopError = error as? LedgerError ?? LedgerError(.io, "\(error)")
            stop(because: stopError, failing: [])
            throw stopError
        }
        roleState.withLock { $0 = (.primary, history) }
        options.log("promoted: timeline \(row.timeline) forks from timeline \(row.previousTimeline) after LSN \(row.forkLSN); taking writes")
        return row
    }

    /// A standby on `newerTimeline` asked this primary to replicate: a
    /// standby was promoted past it. Refuses writes from now on, across
    /// restarts (`superseded`: tmp, fsync, rename, fsync of the directory).
    public func supersede(byTimeline newerTimeline: UInt64) throws {
        precondition(newerTimeline > timeline, "superseded by timeline \(newerTimeline), not newer than \(timeline)")
        guard role == .primary else { return }
        roleState.withLock { $0.role = .superseded(timeline: newerTimeline) }
        try storage.replaceFile(layout.supersededPath, with: Array("timeline=\(newerTimeline)\n".utf8), directory: layout.root)
        options.log("superseded: a standby on timeline \(newerTimeline) exists; this primary (timeline \(timeline)) takes no more writes")
    }

    /// A standby applied a timeline record: its history follows (the record
    /// is durable first; recovery adds the row if a crash comes between).
    func timelineApplied(_ row: TimelineSwitch) throws {
        var history = timelineHistory
        try history.append(row)
        try TimelineHistoryFile.write(history, storage: storage, layout: layout)
        roleState.withLock { $0.timelines = history }
        options.log("timelines: following timeline \(row.timeline) (forked from \(row.previousTimeline) after LSN \(row.forkLSN))")
    }
}
