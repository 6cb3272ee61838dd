// Operation 12, `admin` (Specs/protocol.md, "Admin operations"), for admin
// keys: months, digest, and the long commands as jobs (AdminJobs.swift).
// Answered off the event loop with a UTF-8 JSON object.
import Foundation
import LedgerEngine
import LedgerProtocol
import NIOCore

extension ConnectionHandler {
    func handleAdmin(_ context: ChannelHandlerContext, _ header: FrameHeader, _ body: [UInt8]) throws {
        let command = try AdminCommand.decode(body)
        let jobs = metrics.adminJobs
        let keys = self.keys
        query(context, header) { ledger in
            do {
                switch command {
                case .keyCreate, .keyList, .keyRevoke, .keyRotate: return try Self.json(try AdminKeys.run(command, keys: keys))
                default: return try Self.json(try Self.run(command, ledger: ledger, jobs: jobs))
                }
            } catch AdminRefusal.busy(let why) {
                throw ProtocolError(.busy, why)
            } catch AdminRefusal.invalid(let why) {
                throw ProtocolError(.malformedBody, why)
            }
        }
    }

    static func json(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    private static func run(_ command: AdminCommand, ledger: Ledger, jobs: AdminJobs) throws -> [String: Any] {
        switch command {
        case .months:
            return [
                "months": try ledger.months().map { m -> [String: Any] in
                    var row: [String: Any] = ["month": "\(m.month)", "state": m.state.rawValue, "bytes": m.bytes]
                    if let root = m.root { row["root"] = hex(root) }
                    if let lsn = m.lastLSN { row["lastLSN"] = lsn }
                    return row
                }
            ]
        case .digest:
            let digest = try ledger.digest()
            return [
                "lsn": digest.lsn, "chain": hex(digest.chainHead), "verified": false,
                "months": digest.months.map { ["month": "\($0.month)", "root": hex($0.monthRoot)] },
            ]
        case .snapshot:
            let id = try jobs.start("snapshot", unit: "snapshots", cancellable: false) { step in
                _ = step(0, 1)
                let result = try ledger.snapshot()
                _ = step(1, 1)
                return ["lsn": result.lsn, "walFilesDeleted": result.walFilesDeleted]
            }
            return ["job": id, "state": "running"]
        case .archive(let year, let month, let codec, let level):
            return [
                "job": try startArchive(before: try Self.month(year, month), codec: codec, level: Int(level), ledger: ledger, jobs: jobs), "state": "running",
            ]
        case .restore(let year, let month):
            let target = try Self.month(year, month)
            let id = try jobs.start("restore \(target)", unit: "months", cancellable: false) { step in
                _ = step(0, 1)
                let result = try ledger.restore(month: target)
                _ = step(1, 1)
                return ["month": "\(target)", "restored": result != nil]
            }
            return ["job": id, "state": "running"]
        case .verify:
            return ["job": try startVerify(ledger: ledger, jobs: jobs), "state": "running"]
        case .job(let id):
            guard let job = jobs.describe(id) else { throw AdminRefusal.invalid("no job \(id)") }
            return job
        case .cancel(let id):
            return try jobs.cancel(id)
        case .keyCreate, .keyList, .keyRevoke, .keyRotate:
            preconditionFailure("key commands are AdminKeys'")
        case .inspect(let year, let month, let fromLSN, let limit):
            guard (1...UInt32(Ledger.inspectRecordsMax)).contains(limit) else {
                throw AdminRefusal.invalid("inspect shows 1...\(Ledger.inspectRecordsMax) records at a time")
            }
            let rows =
                month == 0
                ? try ledger.inspectWAL(fromLSN: fromLSN, limit: Int(limit)) : try ledger.inspectSegment(try Self.month(year, month), limit: Int(limit))
            return ["records": rows.map(Self.row)]
        }
    }

    private static func row(_ record: Ledger.InspectedRecord) -> [String: Any] {
        var row: [String: Any] = ["file": record.file, "offset": record.offset, "lsn": record.lsn, "bytes": record.bytes]
        if let type = record.walType { row["type"] = type == WALFormat.recordTypeGroup ? "group" : type == WALFormat.recordTypeClose ? "close" : "timeline" }
        if let timestamp = record.timestamp { row["timestamp"] = timestamp }
        if let event = record.event { row["event"] = "\(event)" }
        return row
    }

    private static func month(_ year: UInt16, _ month: UInt8) throws -> UTCMonth {
        guard (1970...9999).contains(year), (1...12).contains(month) else { throw AdminRefusal.invalid("no month \(year)-\(month)") }
        return UTCMonth(year: Int(year), month: Int(month))
    }

    /// Online verify as a job: progress by phase (segments, then WAL files),
    /// cancellable at any record. A report with errors is a finished job
    /// whose result says `"passed": false` and names each problem.
    private static func startVerify(ledger: Ledger, jobs: AdminJobs) throws -> UInt64 {
        let cancelled = CancelFlag()
        return try jobs.start("verify", unit: "steps", cancellable: true) { step in
            let report: VerifyReport
            do {
                report = try ledger.verifyOnline(
                    progress: { p in if !step(p.done, p.total) { cancelled.set() } }, isCancelled: { cancelled.isSet })
            } catch  where Ledger.isVerifyCancellation(error) {
                return ["passed": false, "cancelled": true]
            }
            let problems = report.problems.map { p -> [String: Any] in
                var row: [String: Any] = ["severity": "\(p.severity)", "file": p.file, "kind": p.kind, "message": p.message]
                if let offset = p.offset { row["offset"] = offset }
                return row
            }
            return ["passed": report.passed, "lsn": report.chainLSN, "chain": report.chainHead, "walRecords": report.walRecords, "problems": problems]
        }
    }

    /// One month at a time, oldest first, so the job reports progress and
    /// can stop between months (each month's archival is crash-safe alone).
    private static func startArchive(before: UTCMonth, codec: UInt8, level: Int, ledger: Ledger, jobs: AdminJobs) throws -> UInt64 {
        guard let codec = CompressionCodec(rawValue: codec) else { throw AdminRefusal.invalid("codec \(codec): 1 zstd, 2 lz4") }
        guard codec.levels.contains(level) else { throw AdminRefusal.invalid("\(codec) level \(level) is outside \(codec.levels)") }
        let pending = try ledger.monthsToArchive(before: before)
        return try jobs.start("archive before \(before) (\(codec) \(level))", unit: "months", cancellable: true) { step in
            var archived: [[String: Any]] = []
            for (done, month) in pending.enumerated() {
                guard step(done, pending.count) else { break }
                for result in try ledger.archive(before: month.next, codec: codec, level: level) {
                    archived.append(["month": "\(result.month)", "segmentBytes": result.segmentBytes, "archiveBytes": result.archiveBytes])
                }
            }
            if archived.count == pending.count { _ = step(pending.count, pending.count) }
            return ["archived": archived]
        }
    }
}
