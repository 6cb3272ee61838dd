import Foundation
import LedgerClient
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// Operator commands on a running server (`admin`, Specs/protocol.md "Admin
/// operations") through `ledgerctl ... --server` with an admin key: months,
/// archive and restore while clients keep committing, snapshot, digest,
/// history; the role checks both ways; and the jobs' rules in process.
@Suite(.serialized) struct AdminProcessTests {
    typealias R = ReplicationProcessTests
    static let day: UInt64 = 86_400_000_000_000

    /// A directory with entries in January, February and March 2026 (the
    /// first two sealed), written offline with a test clock.
    static func threeMonths() throws -> String {
        let path = try R.smallWALDirectory()
        let clock = TestClock(UTCMonth(year: 2026, month: 1).startNs + day)
        var options = Ledger.Options()
        options.clock = { clock.read() }
        let ledger = try Ledger.open(at: path, options: options)
        _ = try ledger.submitAndWait(EventBatch([usd(1), usd(2)]))
        var id: UInt128 = 100
        for month in 1...3 {
            clock.advance(UTCMonth(year: 2026, month: month).startNs + day - clock.read())
            for _ in 0..<20 {
                _ = try ledger.submitAndWait(EventBatch([transfer(id, from: 1, to: 2, 1)]))
                id += 1
                clock.advance(1_000_000)
            }
        }
        try ledger.close()
        return path
    }

    static func ctl(_ arguments: [String], _ server: RunningServer, admin: [UInt8]) throws -> (status: Int32, output: String) {
        try R.ledgerctl(arguments + ["--server", "127.0.0.1:\(server.port)", "--key-id", "ops", "--secret", KeysFile.hex(admin)])
    }

    static func json(_ text: String) -> [String: Any] {
        let line = text.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }

    static func states(_ server: RunningServer, admin: [UInt8]) throws -> [String: String] {
        let months = json(try ctl(["months"], server, admin: admin).output)["months"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: months.map { ($0["month"] as? String ?? "?", $0["state"] as? String ?? "?") })
    }

    @Test func operatorCommandsRunOnARunningServerWhileClientsCommit() async throws {
        let keys = try R.Keys()
        let created = try R.ledgerctl(["key", "create", "--role", "admin", "--id", "ops", "--keys-file", keys.path])
        let admin = KeyCommandProcessTests.secret(in: created.output)
        #expect(created.status == 0 && admin.count == 32)
        let server = try RunningServer(keysFile: keys.path, directory: try Self.threeMonths())
        defer { server.removeDirectory() }
        #expect(try Self.states(server, admin: admin) == ["2026-01": "sealed", "2026-02": "sealed", "2026-03": "open"])

        // Roles: a client key may not run admin commands, an admin key may not read.
        let client = R.client(server, keys)
        await #expect(throws: LedgerClientError.refused(.forbidden, "key 'dev' has the client role, which does not allow admin")) {
            _ = try await client.admin(.months)
        }
        let ops = KeyCommandProcessTests.client(server, id: "ops", admin)
        do {
            _ = try await ops.lookupAccounts([1])
            Issue.record("an admin key read the ledger")
        } catch LedgerClientError.refused(let status, _) { #expect(status == .forbidden) }
        await #expect(throws: LedgerClientError.self) { _ = try await ops.admin(.archive(beforeYear: 2026, beforeMonth: 3, codec: 1, level: 99)) }

        // Archive while a client commits: both finish, nothing is refused.
        let writer = Task { () -> Int in
            var ok = 0
            for id in UInt128(10_000)..<10_200 where (try? await client.submit([NewEntry(id: id, postings: [.debit(1, 1), .credit(2, 1)])])) == [.ok] {
                ok += 1
            }
            return ok
        }
        let archived = try Self.ctl(["archive", "--before", "2026-03", "--codec", "zstd"], server, admin: admin)
        #expect(archived.status == 0, "\(archived.output)")
        #expect((Self.json(archived.output)["result"] as? [String: Any])?["archived"].map { ($0 as? [Any])?.count } == 2, "\(archived.output)")
        #expect(await writer.value == 200, "commits continued during the archival")
        #expect(try Self.states(server, admin: admin)["2026-01"] == "archived")
        let history = try R.ledgerctl([
            "history", "1", "--json", "--limit", "5", "--server", "127.0.0.1:\(server.port)", "--secret", KeysFile.hex(keys.clientSecret),
        ])
        #expect(history.status == 0 && history.output.contains("\"lsn\""), "history of archived months over --server: \(history.output)")

        // Restore, snapshot, digest.
        #expect(try Self.ctl(["restore", "--month", "2026-01"], server, admin: admin).status == 0)
        #expect(try Self.states(server, admin: admin)["2026-01"] == "sealed")
        let snapshot = try Self.ctl(["snapshot"], server, admin: admin)
        #expect(snapshot.status == 0 && (Self.json(snapshot.output)["result"] as? [String: Any])?["lsn"] != nil, "\(snapshot.output)")
        let digest = Self.json(try Self.ctl(["digest"], server, admin: admin).output)
        let months = Self.json(try Self.ctl(["months"], server, admin: admin).output)["months"] as? [[String: Any]] ?? []
        let roots = (digest["months"] as? [[String: Any]] ?? []).map { $0["root"] as? String }
        #expect(!roots.isEmpty && roots == months.filter { $0["root"] != nil }.map { $0["root"] as? String })
        #expect(try Self.ctl(["job", "99"], server, admin: admin).status == 3, "an unknown job is refused")
        // inspect: over the protocol, and locally beside the running server.
        let wal = Self.json(try Self.ctl(["inspect", "wal", "--limit", "3"], server, admin: admin).output)["records"] as? [[String: Any]] ?? []
        #expect(wal.count == 3 && wal.first?["lsn"] as? Int == 1 && wal.contains { $0["type"] as? String == "group" }, "\(wal)")
        let february =
            Self.json(try Self.ctl(["inspect", "segment", "2026-02", "--limit", "5"], server, admin: admin).output)["records"] as? [[String: Any]] ?? []
        #expect(february.count == 5 && february.allSatisfy { ($0["event"] as? String)?.contains("createEntry") == true }, "\(february)")
        let local = try R.ledgerctl(["inspect", "segment", "2026-01", "--limit", "2", "--data-dir", server.directory])
        #expect(local.status == 0 && local.output.contains("LSN"), "\(local.output)")
        await client.close()
        await ops.close()
        #expect(server.stop(keepDirectory: true) == 0)
        #expect(try R.ledgerctl(["verify", "--data-dir", server.directory]).status == 0)
    }

    @Test func onlineVerifyPassesWhileCommittingAndNamesAMonthDamagedOnDisk() async throws {
        let keys = try R.Keys()
        let admin = KeyCommandProcessTests.secret(in: try R.ledgerctl(["key", "create", "--role", "admin", "--id", "ops", "--keys-file", keys.path]).output)
        let server = try RunningServer(keysFile: keys.path, directory: try Self.threeMonths())
        defer { server.removeDirectory() }
        let client = R.client(server, keys)
        let writer = Task { () -> Int in
            var ok = 0
            for id in UInt128(20_000)..<20_300 where (try? await client.submit([NewEntry(id: id, postings: [.debit(1, 1), .credit(2, 1)])])) == [.ok] {
                ok += 1
            }
            return ok
        }
        let clean = try Self.ctl(["verify"], server, admin: admin)
        let result = Self.json(clean.output)["result"] as? [String: Any] ?? [:]
        #expect(clean.status == 0 && result["passed"] as? Bool == true && (result["lsn"] as? Int ?? 0) > 60, "\(clean.output)")

        // A sealed month damaged on disk: named, and commits go on.
        let segment = DataDirectoryLayout(root: server.directory).segmentPath(UTCMonth(year: 2026, month: 1))
        let handle = try #require(FileHandle(forUpdatingAtPath: segment))
        try handle.seek(toOffset: 4_096 + 100)
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: 4_096 + 100)
        try handle.write(contentsOf: [byte ^ 0x10])
        try handle.close()
        let damaged = try Self.ctl(["verify"], server, admin: admin)
        let problems = (Self.json(damaged.output)["result"] as? [String: Any])?["problems"] as? [[String: Any]] ?? []
        #expect(damaged.status == 1, "\(damaged.output)")
        #expect(problems.contains { ($0["file"] as? String ?? "").hasSuffix("2026-01.seg") && $0["severity"] as? String == "error" }, "\(damaged.output)")
        #expect(await writer.value == 300, "commits went on during both verifies")
        #expect(try await client.submit([NewEntry(id: 30_000, postings: [.debit(1, 1), .credit(2, 1)])]) == [.ok])
        await client.close()
        #expect(server.stop() == 0)
    }

    @Test func oneJobAtATimeAndACancelStopsBetweenSteps() throws {
        let jobs = AdminJobs()
        let release = DispatchSemaphore(value: 0)
        let id = try jobs.start("test", unit: "steps", cancellable: true) { step in
            var done = 0
            while step(done, 10) {
                release.wait()
                done += 1
                if done == 10 { break }
            }
            return ["steps": done]
        }
        #expect(throws: AdminRefusal.self) { _ = try jobs.start("second", unit: "steps", cancellable: false) { _ in [:] } }
        release.signal()
        _ = try jobs.cancel(id)
        release.signal()
        var state = ""
        for _ in 0..<500 where state != "cancelled" {
            state = jobs.describe(id)?["state"] as? String ?? ""
            usleep(2_000)
        }
        #expect(state == "cancelled")
        #expect(throws: AdminRefusal.self) { _ = try jobs.cancel(id) }
        let quick = try jobs.start("quick", unit: "steps", cancellable: false) { _ in ["ok": true] }
        #expect(throws: AdminRefusal.self) { _ = try jobs.cancel(quick + 100) }
    }
}
