import Foundation
import LedgerClient
import LedgerEngine
import LedgerProtocol
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// Promotion and timelines with real processes (Specs/replication.md,
/// "Promotion and timelines"): a promoted standby takes writes, another
/// standby follows it across the switch, an old primary is fenced and
/// refused past the fork; and the primary killed at random moments under
/// load, the standby promoted each time.
@Suite(.serialized) struct PromotionProcessTests {
    typealias R = ReplicationProcessTests

    static func startStandby(_ directory: String, of primary: RunningServer, _ keys: R.Keys, arguments: [String] = []) throws -> RunningServer {
        try startStandby(directory, port: primary.port, keys, arguments: arguments)
    }

    static func startStandby(_ directory: String, port: Int, _ keys: R.Keys, arguments: [String] = []) throws -> RunningServer {
        try RunningServer(
            keysFile: keys.path, directory: directory,
            arguments: ["--standby-of", "127.0.0.1:\(port)", "--replication-key-file", keys.replicationKeyPath] + arguments)
    }

    /// A standby of `primary` from a new base backup, streaming through a
    /// proxy the test can cut.
    static func partitionableStandby(of primary: RunningServer, _ keys: R.Keys, arguments: [String]) throws -> (RunningServer, PartitionProxy) {
        let proxy = try PartitionProxy(to: primary.port)
        return (try startStandby(try R.baseBackup(of: primary, keys), port: proxy.port, keys, arguments: arguments), proxy)
    }

    /// Waits until `server`'s log holds `text`.
    static func waitForLog(_ server: RunningServer, _ text: String, seconds: Double = 30) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var log = ""
        while Date() < deadline {
            log = (try? String(contentsOfFile: server.directory + ".log", encoding: .utf8)) ?? ""
            if log.contains(text) { return log }
            try await Task.sleep(for: .milliseconds(50))
        }
        return log
    }

    static func promote(_ standby: RunningServer) throws {
        let (status, output) = try R.ledgerctl(["promote", "--data-dir", standby.directory])
        #expect(status == 0 && output.contains("promoted"), "promote: \(status) \(output)")
    }

    @Test func aPromotedStandbyTakesWritesIsFollowedAcrossTheSwitchAndFencesTheOldPrimary() async throws {
        let keys = try R.Keys()
        let primary = try RunningServer(keysFile: keys.path, directory: try R.smallWALDirectory())
        defer { primary.removeDirectory() }
        let client = R.client(primary, keys)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        let (firstPath, secondPath) = (try R.baseBackup(of: primary, keys), try R.baseBackup(of: primary, keys))
        let first = try Self.startStandby(firstPath, of: primary, keys)
        defer { first.removeDirectory() }
        var second = try Self.startStandby(secondPath, of: primary, keys)
        defer { second.removeDirectory() }
        #expect(try await client.submit(R.entries(from: 1_000, count: 500)).allSatisfy { $0 == .ok })
        let (firstClient, secondClient) = (R.client(first, keys), R.client(second, keys))
        try await R.waitForCatchUp(firstClient, client)
        try await R.waitForCatchUp(secondClient, client)
        await secondClient.close()
        #expect(second.stop(keepDirectory: true) == 0)  // to be pointed at the new primary

        // Promoted: the standby takes writes on timeline 2.
        #expect(try R.scrape(first).contains("ledger_timeline{kind=\"current\"} 1"))
        // A standby caught up is ready (for reads), and says so.
        let standbyReady = try ServerEndToEndTests.get("/readyz", port: first.metricsPort)
        #expect(standbyReady.hasPrefix("HTTP/1.1 200") && standbyReady.contains("standby: 0 records behind"), "\(standbyReady)")
        try Self.promote(first)
        let promotedMetrics = try R.scrape(first)
        #expect(promotedMetrics.contains("ledger_timeline{kind=\"current\"} 2") && promotedMetrics.contains("ledger_timeline{kind=\"takes_writes\"} 1"))
        #expect(try await firstClient.submit(R.entries(from: 5_000, count: 10)).allSatisfy { $0 == .ok })
        // Meanwhile the old primary, not told, takes one more write: its log
        // now holds a record past the fork.
        #expect(try await client.submit(R.entries(from: 9_000, count: 1)) == [.ok])

        // The second standby, pointed at the new primary, follows across the switch.
        second = try Self.startStandby(secondPath, of: first, keys)
        let follower = R.client(second, keys)
        try await R.waitForCatchUp(follower, firstClient)
        #expect(try await follower.lookupAccounts([1, 2]) == firstClient.lookupAccounts([1, 2]))
        #expect(try await follower.lookupEntries([5_000]).first??.entry.id == 5_000)
        await follower.close()
        #expect(try await Self.waitForLog(second, "following timeline 2").contains("following timeline 2"))

        // Pointed by mistake at the old primary, a standby on timeline 2
        // fences it: refused, and the old primary takes no more writes.
        #expect(second.stop(keepDirectory: true) == 0)
        second = try Self.startStandby(secondPath, of: primary, keys)
        let refused = try await Self.waitForLog(second, "diverged")
        #expect(refused.contains("superseded"), "\(refused.suffix(800))")
        do {
            _ = try await client.submit(R.entries(from: 9_500, count: 1))
            Issue.record("a superseded primary took a write")
        } catch LedgerClientError.refused(let status, let message) {
            #expect(status == .notPrimary && message.contains("timeline 2"), "\(message)")
        }
        #expect(try R.scrape(primary).contains("ledger_timeline{kind=\"takes_writes\"} 0"))
        // Fenced: alive, but a load balancer must stop sending it traffic.
        #expect(try ServerEndToEndTests.get("/healthz", port: primary.metricsPort).hasPrefix("HTTP/1.1 200"))
        let fenced = try ServerEndToEndTests.get("/readyz", port: primary.metricsPort)
        #expect(fenced.hasPrefix("HTTP/1.1 503") && fenced.contains("superseded"), "\(fenced)")
        await client.close()
        #expect(second.stop(keepDirectory: true) == 0)

        // The old primary, made a standby of the new one, holds a record past
        // the fork: refused with the way out.
        #expect(primary.stop(keepDirectory: true) == 0)
        #expect(FileManager.default.fileExists(atPath: primary.directory + "/superseded"))
        let (status, output) = try R.ledgerctl(["follow", "--data-dir", primary.directory, "--primary", "127.0.0.1:\(first.port)"])
        #expect(status == 0, "\(output)")
        let rejoined = try Self.startStandby(primary.directory, of: first, keys)
        let log = try await Self.waitForLog(rejoined, "take a new base backup")
        #expect(log.contains("diverged") && log.contains("take a new base backup"), "\(log.suffix(800))")
        #expect(rejoined.stop(keepDirectory: true) == 0)
        await firstClient.close()
        #expect(first.stop(keepDirectory: true) == 0)
        #expect(try R.ledgerctl(["verify", "--data-dir", first.directory]).status == 0)
        #expect(try R.ledgerctl(["verify", "--data-dir", secondPath]).status == 0)
    }

    /// A primary on 1 MiB WAL files with accounts 1 and 2, and a standby
    /// streaming through a proxy the test can cut; both get `arguments`.
    static func partitionablePair(_ keys: R.Keys, arguments: [String]) async throws -> (RunningServer, RunningServer, PartitionProxy) {
        let primary = try RunningServer(keysFile: keys.path, directory: try R.smallWALDirectory(), arguments: arguments)
        let (standby, proxy) = try partitionableStandby(of: primary, keys, arguments: arguments)
        let setup = R.client(primary, keys)
        #expect(try await setup.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        await setup.close()
        return (primary, standby, proxy)
    }

    /// Every acknowledged id is on `server` (the cycle's all, `sampleOld`
    /// of the earlier ones), and account 1's debits cover them all and
    /// equal account 2's credits. Returns account 1's debits.
    static func expectAcknowledged(
        on server: RunningServer, _ keys: R.Keys, all: Set<UInt128>, cycle new: Set<UInt128>, sampleOld: Int, rng: inout SeededRandom, _ label: String
    ) async throws -> UInt128 {
        let client = R.client(server, keys)
        defer { Task { await client.close() } }
        let accounts = try await client.lookupAccounts([1, 2])
        let debits = accounts[0]?.debitsPosted ?? 0
        #expect(debits >= UInt128(all.count), "\(label): \(debits) entries on the promoted standby, \(all.count) acknowledged")
        #expect(debits == accounts[1]?.creditsPosted, "\(label): debits and credits differ")
        let ids = Array(new) + Array(all.subtracting(new).shuffled(using: &rng).prefix(sampleOld))
        for start in stride(from: 0, to: ids.count, by: 1_000) {
            let found = try await client.lookupEntries(Array(ids[start..<min(ids.count, start + 1_000)]))
            #expect(found.allSatisfy { $0 != nil }, "\(label): an acknowledged entry is missing")
        }
        return debits
    }

    @Test func withASynchronousStandbyThePrimaryKilledAtRandomMomentsLosesNoAcknowledgedEntry() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["PRIMARY_KILL_CYCLES"] ?? "") ?? 20
        var rng = SeededRandom(seed: 20_261_202)
        let keys = try R.Keys()
        let sync = ["--synchronous-standbys", "1"]
        var (primary, standby, proxy) = try await Self.partitionablePair(keys, arguments: sync)
        defer {
            primary.removeDirectory()
            standby.removeDirectory()
        }
        var acknowledged: Set<UInt128> = []
        for cycle in 0..<cycles {
            let load = R.load(primary, keys, idBase: UInt128(cycle + 1) * 1_000_000_000, lanes: 3, largeBatch: 300)
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...300, using: &rng)))
            // A partition, then the primary dies: what it made durable alone
            // after the cut (groups in flight on both sides) is not on the standby.
            proxy.cut()
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...100, using: &rng)))
            primary.kill()
            let new = await load.cancelAfter(milliseconds: 0)
            acknowledged.formUnion(new)
            try Self.promote(standby)
            _ = try await Self.expectAcknowledged(on: standby, keys, all: acknowledged, cycle: new, sampleOld: 500, rng: &rng, "cycle \(cycle)")
            // The old primary's directory may hold unacknowledged groups past
            // the fork: it is replaced by a base backup of the new primary.
            primary.removeDirectory()
            primary = standby
            (standby, proxy) = try Self.partitionableStandby(of: primary, keys, arguments: sync)
        }
        #expect(acknowledged.count > cycles * 300, "too little load to test anything")
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(primary.stop(keepDirectory: true) == 0)
        #expect(try R.ledgerctl(["verify", "--data-dir", primary.directory]).status == 0)
    }

    /// Asynchronous: what a promotion loses is what the standby had not
    /// received (here: what the primary acknowledged during a partition
    /// of 100 ms before it died); reported against the lag the primary's
    /// metrics showed just before the partition.
    @Test func asynchronouslyThePrimaryKilledLosesAtMostItsLagAndTheReportSaysHowMuch() async throws {
        var rng = SeededRandom(seed: 20_261_203)
        let keys = try R.Keys()
        var (primary, standby, proxy) = try await Self.partitionablePair(keys, arguments: [])
        defer {
            primary.removeDirectory()
            standby.removeDirectory()
        }
        var acknowledged: Set<UInt128> = []
        var report: [String] = []
        for cycle in 0..<3 {
            let load = R.load(primary, keys, idBase: UInt128(cycle + 1) * 1_000_000_000, lanes: 3, largeBatch: 2_000)
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...400, using: &rng)))
            let metrics = (try? R.scrape(primary)) ?? ""
            let lag = metrics.split(separator: "\n").first { $0.hasPrefix("ledger_replication_standby_lag_lsn") }.map(String.init) ?? "no lag line"
            proxy.cut()
            try await Task.sleep(for: .milliseconds(100))  // the primary acknowledges alone
            primary.kill()
            acknowledged.formUnion(await load.cancelAfter(milliseconds: 0))
            try Self.promote(standby)
            let client = R.client(standby, keys)
            // What was lost stays lost: later cycles check what survived.
            var survivors: Set<UInt128> = []
            let ids = Array(acknowledged)
            for start in stride(from: 0, to: ids.count, by: 1_000) {
                let chunk = Array(ids[start..<min(ids.count, start + 1_000)])
                for (id, row) in zip(chunk, try await client.lookupEntries(chunk)) where row != nil { survivors.insert(id) }
            }
            let accounts = try await client.lookupAccounts([1, 2])
            #expect(accounts[0]?.debitsPosted == accounts[1]?.creditsPosted)
            #expect((accounts[0]?.debitsPosted ?? 0) >= UInt128(survivors.count))
            await client.close()
            report.append("cycle \(cycle): \(ids.count - survivors.count) of \(ids.count) acknowledged entries lost; just before the partition: \(lag)")
            acknowledged = survivors
            primary.removeDirectory()
            primary = standby
            (standby, proxy) = try Self.partitionableStandby(of: primary, keys, arguments: [])
        }
        FileHandle.standardError.write(Data(("asynchronous promotion report:\n" + report.joined(separator: "\n") + "\n").utf8))
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(primary.stop(keepDirectory: true) == 0)
        #expect(try R.ledgerctl(["verify", "--data-dir", primary.directory]).status == 0)
    }
}
