import Foundation
import LedgerClient
import LedgerEngine
import LedgerProtocol
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// Point-in-time restore (`ledgerctl restore-backup`) from a base backup
/// of a running primary and its WAL archive.
@Suite(.serialized) struct RestoreProcessTests {
    typealias R = ReplicationProcessTests

    /// ledgerctl with its standard error in the output.
    static func ledgerctl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerKillTests.ledgerctlPath)
        process.arguments = arguments
        let pipe = Pipe()
        (process.standardOutput, process.standardError) = (pipe, pipe)
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    static func hasEntry(_ directory: String, _ id: UInt128) throws -> Bool {
        try R.ledgerctl(["lookup", "\(id)", "--data-dir", directory]).status == 0
    }

    @Test func aRestoreToAMomentBetweenTwoKnownEntriesHoldsExactlyTheEntriesBeforeIt() async throws {
        let keys = try R.Keys()
        let archive = temporaryDirectory() + "-archive"
        try FileManager.default.createDirectory(atPath: archive, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: archive) }
        let primary = try RunningServer(
            keysFile: keys.path, directory: try R.smallWALDirectory(),
            arguments: ["--archive-wal-to", archive, "--snapshot-interval-mib", "1", "--max-slot-wal-keep-mib", "0"])
        defer { primary.removeDirectory() }
        let client = R.client(primary, keys)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        #expect(try await client.submit(R.entries(from: 1_000, count: 2_000)).allSatisfy { $0 == .ok })
        let base = try R.baseBackup(of: primary, keys)  // (its slot keeps no WAL: --max-slot-wal-keep-mib 0)
        defer { try? FileManager.default.removeItem(atPath: base) }
        // Two known entries, a moment between them.
        #expect(try await client.submit(R.entries(from: 10, count: 1)) == [.ok])
        let lsnA = try await client.status().lastLSN
        try await Task.sleep(for: .milliseconds(50))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let between = formatter.string(from: Date())
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await client.submit(R.entries(from: 11, count: 1)) == [.ok])
        // More, until the WAL files holding both are compacted, so archived.
        var id: UInt128 = 100_000
        while try R.walFiles(primary.directory).first.map({ $0 <= lsnA + 1 }) ?? true {
            #expect(try await client.submit(R.entries(from: id, count: 4_000)).allSatisfy { $0 == .ok })
            id += 4_000
            guard id < 2_000_000 else { break }
        }
        await client.close()

        let byTime = temporaryDirectory() + "-restored"
        let (status, output) = try Self.ledgerctl(["restore-backup", "--base", base, "--wal-archive", archive, "--until", between, "--to", byTime])
        #expect(status == 0 && output.contains("promoted to timeline 2"), "\(status): \(output)")
        defer { try? FileManager.default.removeItem(atPath: byTime) }
        #expect(try Self.hasEntry(byTime, 10) && !Self.hasEntry(byTime, 11), "the restore holds the entry before the moment and not the one after")
        #expect(try R.offlineDebits(byTime) == 2_001, "exactly the 2,001 entries before the moment")
        #expect(try R.ledgerctl(["verify", "--data-dir", byTime]).status == 0)

        let byLSN = temporaryDirectory() + "-restored-lsn"
        #expect(try R.ledgerctl(["restore-backup", "--base", base, "--wal-archive", archive, "--until", "\(lsnA)", "--to", byLSN]).status == 0)
        defer { try? FileManager.default.removeItem(atPath: byLSN) }
        #expect(try Self.hasEntry(byLSN, 10) && !Self.hasEntry(byLSN, 11))
        // A target before the base backup's end, and an existing --to, are
        // refused before anything is written.
        let early = temporaryDirectory() + "-early"
        let refused = try Self.ledgerctl(["restore-backup", "--base", base, "--wal-archive", archive, "--until", "1", "--to", early])
        #expect(refused.status == 2 && refused.output.contains("older base backup"), "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: early) && !FileManager.default.fileExists(atPath: early + ".partial"))
        #expect(try R.ledgerctl(["restore-backup", "--base", base, "--wal-archive", archive, "--until", "\(lsnA)", "--to", byLSN]).status != 0)
        #expect(primary.stop(keepDirectory: true) == 0)
    }
}
