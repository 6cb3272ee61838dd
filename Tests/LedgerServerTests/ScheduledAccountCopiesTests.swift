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

    @Test func theServerBuildsACopyOfEverySealedMonth() async throws {
        let keys = try R.Keys()
        let directory = try AdminProcessTests.threeMonths()  // January and February sealed, March open
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try ScheduledArchivalTests.histories(directory)
        let layout = DataDirectoryLayout(root: directory)
        let server = try RunningServer(keysFile: keys.path, directory: directory, arguments: ["--account-copies-interval-ms", "50"])
        let log = try await PromotionProcessTests.waitForLog(server, "account copy: 2026-02 built")
        #expect(log.contains("account copy: 2026-01 built ("), "\(log.suffix(500))")
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
