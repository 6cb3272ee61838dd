// The `# HELP` line of every metric the registry exports (swift-prometheus
// writes only `# TYPE`), with its unit, and the gauges read from the data
// directory at each scrape: build information, WAL bytes, the newest
// snapshot, months by form (docs/operations.md, "Metrics").
import Dispatch
import LedgerEngine
import LedgerProtocol

enum MetricsHelp {
    static let help: [String: String] = [
        "ledger_events_committed_total": "Events made durable, ok or refused by their result (events; rate() is events/s).",
        "ledger_requests_committed_total": "createAccounts/submitEntries requests answered after their batch was durable (requests).",
        "ledger_engine_batches_total": "Engine batches the requests were joined into (batches).",
        "ledger_backpressure_pauses_total": "Times a connection was not read because its unsent replies passed the high-water mark (count).",
        "ledger_request_events": "Events per createAccounts/submitEntries request (events).",
        "ledger_group_events": "Events per WAL group, one fdatasync each (events).",
        "ledger_wal_fdatasync_seconds": "WAL fdatasync latency (seconds).",
        "ledger_request_commit_seconds": "A write request from its arrival to durable (seconds).",
        "ledger_queue_depth_batches": "Batches queued for the engine at scrape time (batches).",
        "ledger_connections": "Client connections open at scrape time (connections).",
        "ledger_event_rejections_total": "Events refused by the state machine, by result code; exists is not one (events).",
        "ledger_events_existing_total": "Events answered exists: an idempotent retry of an applied event, not a failure (events).",
        "ledger_request_refusals_total": "Requests refused before the engine, by protocol status (requests).",
        "ledger_archived_months_total": "Months archived by scheduled archival since start (months).",
        "ledger_archive_bytes_total": "Scheduled archival: segment bytes read in and archive bytes written out (bytes).",
        "ledger_archive_failures_total": "Scheduled archival runs that failed and will be tried again (runs).",
    ]

    /// `text` with a `# HELP` line before each `# TYPE` line it has one for.
    static func annotate(_ text: [UInt8]) -> String {
        var out = ""
        out.reserveCapacity(text.count + 4_096)
        for line in String(decoding: text, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.split(separator: " ").dropFirst(2).first, let help = help[String(name)] {
                out += "# HELP \(name) \(help)\n"
            }
            out += line + "\n"
        }
        return String(out.dropLast())  // the split's last piece added a newline the text did not end with
    }

    /// Build information and the directory's gauges, in exposition format.
    static func directoryGauges(ledger: Ledger) -> String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(String, String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for (labels, value) in samples { out += "\(name)\(labels.isEmpty ? "" : "{\(labels)}") \(value)\n" }
        }
        let formats = BuildInfo.formats.map { "\($0.name.replacingOccurrences(of: "-", with: "_"))_format=\"\($0.version)\"" }.joined(separator: ",")
        let protocols = "protocol=\"\(ProtocolFormat.versions.lowerBound)...\(ProtocolFormat.versions.upperBound)\""
        gauge(
            "ledger_build_info", "The release and the format versions it writes, in the labels (always 1).",
            [("version=\"\(BuildInfo.version)\",\(formats),\(protocols)", "1")])
        guard let report = try? ledger.diskReport() else {
            gauge("ledger_disk_report_failures", "The directory could not be listed at this scrape; see the log (always 1).", [("", "1")])
            return out
        }
        gauge("ledger_wal_files", "WAL files in the data directory (files).", [("", "\(report.walFiles)")])
        gauge("ledger_wal_bytes", "Bytes of WAL files on disk, preallocated included (bytes).", [("", "\(report.walBytes)")])
        if let snapshot = report.newestSnapshot {
            let ageNs = Ledger.wallClockNs() &- min(snapshot.lastEventNs, Ledger.wallClockNs())
            gauge("ledger_snapshot_newest_lsn", "LSN of the newest snapshot; recovery replays the WAL after it (LSN).", [("", "\(snapshot.lsn)")])
            gauge(
                "ledger_snapshot_age_seconds", "Wall time since the last event the newest snapshot covers (seconds).",
                [("", "\(ageNs / 1_000_000_000)")])
        }
        let forms: [(SegmentForm, String)] = [(.segment, "segment"), (.archive, "archive"), (.both, "both")]
        gauge(
            "ledger_months", "Months by the form that holds them: segment (the open month and sealed ones), archive, both (months).",
            forms.map { ("form=\"\($0.1)\"", "\(report.months[$0.0]?.count ?? 0)") })
        gauge(
            "ledger_month_bytes", "Bytes of the months' segment, index and archive files, by form (bytes).",
            forms.map { ("form=\"\($0.1)\"", "\(report.months[$0.0]?.bytes ?? 0)") })
        return out
    }
}
