import Foundation
import LedgerEngine
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// `LedgerServer --archive-after-months N`: the server archives old sealed
/// months on its own, and killed at random points inside that archival
/// (named crash points, `SCHEDULED_ARCHIVAL_CYCLES`, default 20) it leaves
/// every month readable in one form or both, histories unchanged, `verify`
/// clean; the next start finishes what the kill interrupted.
@Suite(.serialized) struct ScheduledArchivalTests {
    typealias R = ReplicationProcessTests
    static var cycles: Int { Int(ProcessInfo.processInfo.environment["SCHEDULED_ARCHIVAL_CYCLES"] ?? "") ?? 20 }

    static func histories(_ directory: String) throws -> [[HistoryItem]] {
        let reader = try LedgerReader(at: directory)
        defer { reader.close() }
        return try [1, 2].map { try reader.history(account: UInt128($0), limit: 1_000).items }
    }

    static func forms(_ directory: String) throws -> [(month: UTCMonth, form: SegmentForm)] {
        try SegmentFiles.months(storage: POSIXStorage(), layout: DataDirectoryLayout(root: directory))
    }

    @Test func sealedMonthsOlderThanNMonthsAreDue() {
        let december = UTCMonth(year: 2026, month: 12).startNs + 5 * 86_400_000_000_000
        #expect(ScheduledArchival.cutoff(nowNs: december, afterMonths: 0) == UTCMonth(year: 2026, month: 12))
        #expect(ScheduledArchival.cutoff(nowNs: december, afterMonths: 3) == UTCMonth(year: 2026, month: 9))
        #expect(ScheduledArchival.cutoff(nowNs: december, afterMonths: 12) == UTCMonth(year: 2025, month: 12))
        #expect(ScheduledArchival.cutoff(nowNs: december, afterMonths: 1_200) == UTCMonth(year: 1970, month: 1))
    }

    @Test func scheduledArchivalKilledAtRandomPointsLeavesEveryMonthReadable() async throws {
        let keys = try R.Keys()
        let directory = try AdminProcessTests.threeMonths()  // January and February sealed, March open
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try Self.histories(directory)
        var rng = SeededRandom(seed: 20_261_202)
        var diedAtPoint = 0
        var formsSeen = Set<String>()
        for cycle in 0..<Self.cycles {
            // Work for this run: a sealed month back in segment form if none is.
            let sealed = try Self.forms(directory).filter { $0.month < UTCMonth(year: 2026, month: 3) }
            if !sealed.contains(where: { $0.form != .archive }) {
                let month = sealed[Int.random(in: 0..<sealed.count, using: &rng)].month
                #expect(try R.ledgerctl(["restore", "--data-dir", directory, "--month", "\(month)"]).status == 0)
            }
            let writes = try Self.forms(directory).filter { $0.month < UTCMonth(year: 2026, month: 3) && $0.form == .segment }.count
            let points = writes == 0 ? ["archive.compared", "archive.segmentRemoved"] : Array(CrashPoints.archival.prefix(4))
            let crashAt = points[Int.random(in: 0..<points.count, using: &rng)] + ":\(Int.random(in: 1...max(1, writes), using: &rng))"
            let server = try RunningServer(
                keysFile: keys.path, directory: directory, arguments: ["--archive-after-months", "0", "--archive-interval-ms", "50"],
                environment: ["LEDGER_CRASH_AT": crashAt])
            let deadline = Date().addingTimeInterval(15)
            while server.process.isRunning && Date() < deadline { usleep(5_000) }
            if server.process.isRunning {
                _ = server.stop(keepDirectory: true)
            } else {
                diedAtPoint += server.process.terminationReason == .uncaughtSignal ? 1 : 0
            }
            let report = try Verifier.verify(at: directory)
            #expect(report.passed, "cycle \(cycle) (\(crashAt)): \(report.problems)")
            for (_, form) in report.monthForms { formsSeen.insert(form == .segment ? "segment" : form == .archive ? "archive" : "both") }
            #expect(try Self.histories(directory) == before, "cycle \(cycle) (\(crashAt)): a history changed")
            if !report.passed { return }
        }
        #expect(diedAtPoint >= Self.cycles * 3 / 4, "only \(diedAtPoint) of \(Self.cycles) runs died at their crash point")
        #expect(formsSeen.isSuperset(of: ["segment", "archive", "both"]), "forms seen: \(formsSeen)")

        // Unkilled, it finishes: every sealed month archived, a log line each, metrics.
        #expect(try R.ledgerctl(["restore", "--data-dir", directory, "--month", "2026-01"]).status == 0)
        let server = try RunningServer(keysFile: keys.path, directory: directory, arguments: ["--archive-after-months", "0", "--archive-interval-ms", "50"])
        let log = try await PromotionProcessTests.waitForLog(server, "scheduled archival: 2026-01 archived")
        #expect(log.contains("scheduled archival: 2026-01 archived (zstd 3:"), "\(log.suffix(500))")
        var archived = 0
        for _ in 0..<200 where archived < 2 {
            archived = try Self.forms(directory).filter { $0.form == .archive }.count
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(archived == 2)
        let metrics = try R.scrape(server)
        #expect(metrics.contains("ledger_months{form=\"archive\"} 2") && metrics.contains("ledger_archived_months_total "), "\(metrics.suffix(800))")
        #expect(server.stop(keepDirectory: true) == 0)
        #expect(try Verifier.verify(at: directory).passed)
    }
}
