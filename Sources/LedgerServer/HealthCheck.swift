// Probes for a load balancer or Kubernetes (docs/operations.md, "Health"):
// GET /healthz — the process is up and its engine has not crash-stopped
// (a stopped engine needs a restart: its fsync failed); GET /readyz — send
// it traffic: a primary that takes writes and is not stopping, or a standby
// streaming from its primary within `readyMaxLagRecords` records. Each
// answers 200 or 503 with one line saying why.
import LedgerEngine

struct HealthCheck: Sendable {
    let ledger: Ledger
    let metrics: ServerMetrics
    /// A standby further behind its primary than this many records (WAL
    /// groups) is not ready (`--ready-max-lag-records`).
    let readyMaxLagRecords: UInt64

    func live() -> (ok: Bool, line: String) {
        if let stop = ledger.stopReason { return (false, "engine stopped: \(stop.message)") }
        return (true, "ok")
    }

    func ready() -> (ok: Bool, line: String) {
        let liveness = live()
        guard liveness.ok else { return liveness }
        if metrics.isStopping { return (false, "stopping") }
        if ledger.isStandby {
            guard let progress = metrics.replication.standbyProgress else { return (false, "standby: not streaming yet") }
            guard progress.streaming else { return (false, "standby: not streaming from its primary") }
            let lag = progress.primaryDurableLSN - min(progress.primaryDurableLSN, ledger.lastLSN.current)
            guard lag <= readyMaxLagRecords else { return (false, "standby: \(lag) records behind its primary (ready within \(readyMaxLagRecords))") }
            return (true, "standby: \(lag) records behind its primary")
        }
        guard ledger.takesWrites else { return (false, "not the primary: superseded by a newer timeline") }
        return (true, "primary: takes writes")
    }

    /// The answer for `path`, or nil when it is not a probe.
    func answer(_ path: String) -> (ok: Bool, line: String)? {
        switch path {
        case "/healthz": live()
        case "/readyz": ready()
        default: nil
        }
    }
}
