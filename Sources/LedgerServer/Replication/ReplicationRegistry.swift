// Who replicates with this server, for the metrics scrape: on a primary,
// every standby's stream (sent, durable and applied LSN, bytes and seconds
// not yet acknowledged) and what synchronous commit waits for; on a
// standby, its own stream (state, applied LSN, the primary's durable LSN,
// records applied).
import LedgerEngine

final class ReplicationRegistry: @unchecked Sendable {
    private let lock = ConditionLock()
    private var senders: [ObjectIdentifier: ReplicationSender] = [:]
    private var receiver: StandbyReceiver?

    func added(_ sender: ReplicationSender) { lock.withLock { senders[ObjectIdentifier(sender)] = sender } }
    func removed(_ sender: ReplicationSender) { lock.withLock { senders[ObjectIdentifier(sender)] = nil } }
    func standby(_ receiver: StandbyReceiver) { lock.withLock { self.receiver = receiver } }

    /// The standby's stream (nil on a primary, or before it starts).
    var standbyProgress: (streaming: Bool, primaryDurableLSN: UInt64, appliedRecords: UInt64)? { lock.withLock { receiver }?.progress }

    /// Prometheus text lines (appended to the registry's exposition).
    func exposition(ledger: Ledger) -> String {
        let (senders, receiver) = lock.withLock { (Array(self.senders.values), self.receiver) }
        var out = ""
        func metric(_ name: String, _ help: String, _ samples: [(String, UInt64)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (labels, value) in samples { out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(value)\n" }
        }
        let durable = ledger.lastLSN.current
        metric(
            "ledger_timeline", "The timeline this server's log is on (1 before any promotion), and whether it takes writes (number; 0 or 1).",
            [("kind=\"current\"", ledger.timeline), ("kind=\"takes_writes\"", ledger.takesWrites ? 1 : 0)])
        if !ledger.isStandby {
            let rows = senders.sorted { $0.keyID < $1.keyID }.map { ($0.keyID, $0.progress) }
            metric(
                "ledger_replication_standby_lsn", "A standby's stream: last LSN sent, acknowledged durable, and applied (LSN).",
                rows.flatMap { key, p in
                    [
                        ("standby=\"\(key)\",kind=\"sent\"", p.sent), ("standby=\"\(key)\",kind=\"durable\"", p.standby.durableLSN),
                        ("standby=\"\(key)\",kind=\"applied\"", p.standby.appliedLSN),
                    ]
                })
            metric(
                "ledger_replication_standby_lag_lsn", "Records durable here and not yet durable on the standby (LSNs).",
                rows.map { ("standby=\"\($0.0)\"", durable - min(durable, $0.1.standby.durableLSN)) })
            metric(
                "ledger_replication_standby_unacknowledged_bytes", "WAL bytes sent to the standby and not yet acknowledged durable (bytes).",
                rows.map { ("standby=\"\($0.0)\"", UInt64($0.1.unacknowledgedBytes)) })
            metric(
                "ledger_replication_standby_lag_seconds", "How long the oldest unacknowledged record has waited for the standby (seconds, rounded down).",
                rows.map { ("standby=\"\($0.0)\"", $0.1.lagNs / 1_000_000_000) })
            let sync = ledger.synchronousCommitState
            metric(
                "ledger_synchronous_standbys", "Synchronous commit: standbys required, and connected (count).",
                [("kind=\"required\"", UInt64(sync.required)), ("kind=\"connected\"", UInt64(sync.connected))])
            let archive = ledger.archiveCounts.withLock { $0 }
            metric("ledger_wal_archived_files", "WAL files copied to --archive-wal-to since start (count).", [("", UInt64(archive.archived))])
            metric(
                "ledger_wal_archive_failures", "Failed WAL archive copies since start; each holds compaction back (count).", [("", UInt64(archive.failures))])
            metric(
                "ledger_synchronous_waiting_groups", "Groups durable here and waiting for the synchronous standbys (count).", [("", UInt64(sync.waitingGroups))]
            )
        } else if let receiver {
            let status = receiver.progress
            metric(
                "ledger_standby_streaming", "Whether the standby streams from its primary: 1, or 0 while it connects or has stopped (0 or 1).",
                [("", status.streaming ? 1 : 0)])
            metric(
                "ledger_standby_lsn", "The standby's applied (and durable) LSN and its primary's durable LSN as last heard (LSN).",
                [("kind=\"applied\"", durable), ("kind=\"primary\"", status.primaryDurableLSN)])
            metric(
                "ledger_standby_lag_lsn", "Records the primary holds that the standby has not applied (LSNs).",
                [("", status.primaryDurableLSN - min(status.primaryDurableLSN, durable))])
            metric("ledger_standby_applied_records", "Records applied since start (count; rate() gives the apply rate).", [("", status.appliedRecords)])
        }
        return out
    }
}
