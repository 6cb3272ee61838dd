import Foundation
import LedgerEngine
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// `LedgerServer --account-copies-interval-ms N`: the server builds the
/// account-ordered copy of each sealed month on its own, with a log line
/// each; the copies verify, and histories read through them are unchanged.
@Suite(.serialized) struct ScheduledAccountCopiesTests {
    typealias R = ReplicationProcessTests

    /// The nice value of every thread of a process (/proc/<pid>/task/*/stat, field 19).
    static func threadNiceValues(pid: Int32) throws -> [Int] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").compactMap { tid in
            let stat = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8)
            guard let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 16 ? Int(fields[16]) : nil
        }
    }

    @Test func theServerBuildsACopyOfEverySealedMonth() async throws {
        let keys = try R.Keys()
        let directory = try AdminProcessTests.threeMonths()  // January and February sealed, March open
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try ScheduledArchivalTests.histories(directory)
        let layout = DataDirectoryLayout(root: directory)
        let server = try RunningServer(keysFile: keys.path, directory: directory, arguments: ["--account-copies-interval-ms", "50"])
        let log = try await PromotionProcessTests.waitForLog(server, "account copy: 2026-02 built")
        #expect(log.contains("account copy: 2026-01 built ("), "\(log.suffix(500))")
        // The builds run on one thread of their own at nice 19; no other
        // thread is lowered (the durability thread runs above normal).
        let nices = try Self.threadNiceValues(pid: server.process.processIdentifier)
        #expect(nices.filter { $0 == 19 }.count == 1 && nices.filter { $0 > 0 }.count == 1, "\(nices.sorted())")
        #expect(server.stop(keepDirectory: true) == 0)
        for month in [UTCMonth(year: 2026, month: 1), UTCMonth(year: 2026, month: 2)] {
            #expect(FileManager.default.fileExists(atPath: layout.accountCopyPath(month)), "\(month)")
        }
        #expect(!FileManager.default.fileExists(atPath: layout.accountCopyPath(UTCMonth(year: 2026, month: 3))), "the open month has no copy")
        let report = try Verifier.verify(at: directory)
        #expect(report.passed && report.accountCopiesChecked == 2, "\(report.problems)")
        #expect(try ScheduledArchivalTests.histories(directory) == before)
    }
}
