import Foundation
import LedgerClient
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// A primary and a standby as real processes on loopback: a base backup,
/// catch-up under load, equal digests and WAL bytes, and a standby killed
/// at random moments that resumes with nothing missing or doubled.
@Suite(.serialized) struct ReplicationProcessTests {
    /// A keys file with a client key `dev` and a replication key `repl`.
    struct Keys {
        let path: String
        let replicationKeyPath: String
        let clientSecret: [UInt8]
        let replicationSecret: [UInt8]

        init() throws {
            let base = temporaryDirectory()
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            let (client, clientSecret) = APIKeys.generate(keyID: "dev")
            let (replication, replicationSecret) = APIKeys.generate(keyID: "repl")
            path = base + "/api-keys"
            replicationKeyPath = base + "/repl.key"
            try "\(client)\n\(replication) role=replication\n".write(toFile: path, atomically: true, encoding: .utf8)
            try "repl \(APIKeys.hex(replicationSecret))\n".write(toFile: replicationKeyPath, atomically: true, encoding: .utf8)
            (self.clientSecret, self.replicationSecret) = (clientSecret, replicationSecret)
        }
    }

    static func ledgerctl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServerKillTests.ledgerctlPath)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    static func client(_ server: RunningServer, _ keys: Keys, deadlineMs: Int64 = 30_000) -> LedgerClient {
        client(port: server.port, keys.clientSecret, deadlineMs: deadlineMs)
    }

    static func client(port: Int, _ secret: [UInt8], deadlineMs: Int64) -> LedgerClient {
        var configuration = LedgerClientConfiguration(port: port, keyID: "dev", secret: secret)
        configuration.deadlineMs = deadlineMs
        return LedgerClient(configuration)
    }

    /// A new data directory with 1 MiB WAL files: every open scans the last
    /// WAL file to its end (zeros included), which in a debug build costs
    /// about a second per 64 MiB; tests that restart servers often use these.
    static func smallWALDirectory() throws -> String {
        let directory = temporaryDirectory() + "-primary"
        #expect(try ledgerctl(["init", "--data-dir", directory, "--wal-file-mib", "1"]).status == 0)
        return directory
    }

    /// The first LSNs of a directory's WAL files, in order.
    static func walFiles(_ directory: String) throws -> [UInt64] {
        try FileManager.default.contentsOfDirectory(atPath: directory).compactMap { DataDirectoryLayout.firstLSN(ofWALFileName: $0) }.sorted()
    }

    /// A base backup of `primary` into a new directory; its path.
    static func baseBackup(of primary: RunningServer, _ keys: Keys) throws -> String {
        let target = temporaryDirectory() + "-standby"
        let (status, output) = try ledgerctl([
            "basebackup", "--server", "127.0.0.1:\(primary.port)", "--key-id", "repl", "--secret", APIKeys.hex(keys.replicationSecret), "--to", target,
        ])
        #expect(status == 0, "basebackup failed: \(output)")
        return target
    }

    static func startStandby(_ directory: String, of primary: RunningServer, _ keys: Keys) throws -> RunningServer {
        try RunningServer(
            keysFile: keys.path, directory: directory,
            arguments: ["--standby-of", "127.0.0.1:\(primary.port)", "--replication-key-file", keys.replicationKeyPath])
    }

    /// Waits until the standby has applied everything the primary holds.
    static func waitForCatchUp(_ standby: LedgerClient, _ primary: LedgerClient, timeoutSeconds: Double = 60) async throws {
        let target = try await primary.status().lastLSN
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if try await standby.status().lastLSN >= target { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the standby did not reach LSN \(target) within \(timeoutSeconds) s")
    }

    /// `standby`'s bytes equal `primary`'s up to the standby's end, after
    /// which the standby holds only zeros (the primary may have written on).
    static func expectSamePrefix(_ primaryPath: String, _ standbyPath: String) throws {
        let (p, s) = (try Data(contentsOf: URL(fileURLWithPath: primaryPath)), try Data(contentsOf: URL(fileURLWithPath: standbyPath)))
        #expect(p.count == s.count, "\(standbyPath) has \(s.count) bytes, the primary's \(p.count)")
        guard let first = zip(p, s).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else { return }
        #expect(s[first...].allSatisfy { $0 == 0 }, "\(standbyPath) differs from the primary's at offset \(first)")
    }

    /// Posts batches of `largeBatch` (8,189) and single entries of amount 1 between
    /// accounts 1 and 2 from several lanes until cancelled; returns the
    /// ids acknowledged.
    /// (The plan and the client are made before the task: built inside it,
    /// from the parameters, the test process crashed in Swift 6.3.1's debug
    /// build with a call through a null pointer.)
    static func load(_ server: RunningServer, _ keys: Keys, idBase: UInt128, lanes: Int, largeBatch: Int = 8_189) -> Task<Set<UInt128>, Never> {
        let plan = (0..<lanes).map { lane in (first: idBase + UInt128(lane) * 10_000_000, count: lane == 0 ? largeBatch : 1) }
        let client = Self.client(port: server.port, keys.clientSecret, deadlineMs: 2_000)
        return Task {
            let acknowledged = await withTaskGroup(of: Set<UInt128>.self) { group in
                for (first, count) in plan { group.addTask { await Self.post(client, from: first, count: count) } }
                return await group.reduce(into: Set<UInt128>()) { $0.formUnion($1) }
            }
            await client.close()
            return acknowledged
        }
    }

    /// One lane of `load`: batches of `count` until cancelled or refused.
    static func post(_ client: LedgerClient, from first: UInt128, count: Int) async -> Set<UInt128> {
        var acknowledged: Set<UInt128> = []
        var next = first
        while !Task.isCancelled {
            let entries = Self.entries(from: next, count: count)
            next += UInt128(count)
            let results: [ResultCode]
            do { results = try await client.submit(entries) } catch {
                FileHandle.standardError.write(Data("lane \(count): \(error)\n".utf8))
                break
            }
            for (entry, result) in zip(entries, results) where result == .ok || result == .exists { acknowledged.insert(entry.id) }
        }
        return acknowledged
    }

    /// Entries of 1 from account 1 to 2.
    static func entries(from first: UInt128, count: Int) -> [NewEntry] {
        var entries: [NewEntry] = []
        entries.reserveCapacity(count)
        for i in 0..<count { entries.append(NewEntry(id: first + UInt128(i), postings: [.debit(1, 1), .credit(2, 1)])) }
        return entries
    }

    @Test func aStandbyFromABaseBackupCatchesUpUnderLoadWithTheSameBytesAndDigest() async throws {
        let keys = try Keys()
        let primary = try RunningServer(keysFile: keys.path)
        defer { primary.removeDirectory() }
        let client = Self.client(primary, keys)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        let before = Self.load(primary, keys, idBase: 1_000_000, lanes: 4)
        try await Task.sleep(for: .milliseconds(300))
        let standbyPath = try Self.baseBackup(of: primary, keys)  // while the load runs
        let standby = try Self.startStandby(standbyPath, of: primary, keys)
        defer { standby.removeDirectory() }
        try await Task.sleep(for: .milliseconds(500))
        before.cancel()
        var acknowledged = await before.value
        acknowledged.formUnion(await Self.load(primary, keys, idBase: 500_000_000, lanes: 4).cancelAfter(milliseconds: 1_000))
        let standbyClient = Self.client(standby, keys)
        try await Self.waitForCatchUp(standbyClient, client)
        #expect(acknowledged.count > 8_189, "too little load to test anything")
        let (p, s) = (try await client.lookupAccounts([1, 2]), try await standbyClient.lookupAccounts([1, 2]))
        #expect(p == s)
        #expect(s[0]?.debitsPosted == UInt128(acknowledged.count), "every acknowledged entry of 1, once")
        let ids = Array(acknowledged.prefix(4_096))
        #expect(try await standbyClient.lookupEntries(ids).allSatisfy { $0 != nil })
        #expect(try await standbyClient.history(HistoryQuery(account: 1, limit: 1_000)) == client.history(HistoryQuery(account: 1, limit: 1_000)))
        // Writes are refused on the standby, naming the primary...
        await #expect(throws: LedgerClientError.refused(.notPrimary, "127.0.0.1:\(primary.port)")) {
            _ = try await standbyClient.createAccounts([NewAccount(id: 3, ledger: 840, code: 1)])
        }
        // ...which a cluster client, given the standby first, follows.
        var clusterConfiguration = LedgerClientConfiguration(keyID: "dev", secret: keys.clientSecret)
        clusterConfiguration.deadlineMs = 30_000
        let cluster = LedgerCluster(addresses: ["127.0.0.1:\(standby.port)", "127.0.0.1:\(primary.port)"], configuration: clusterConfiguration)
        #expect(try await cluster.createAccounts([NewAccount(id: 3, ledger: 840, code: 1)]) == [.ok])
        #expect(await cluster.primary == "127.0.0.1:\(primary.port)")
        try await Self.waitForCatchUp(standbyClient, client)
        #expect(try await cluster.lookupAccounts([3], from: .standby)[0]?.id == 3)
        await cluster.close()
        await standbyClient.close()
        await client.close()
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(primary.stop(keepDirectory: true) == 0)
        let (pd, sd) = (try Self.ledgerctl(["digest", "--data-dir", primary.directory]), try Self.ledgerctl(["digest", "--data-dir", standbyPath]))
        #expect(pd.status == 0 && sd.status == 0 && pd.output == sd.output, "digests differ: \(pd.output) / \(sd.output)")
        let standbyWAL = try FileManager.default.contentsOfDirectory(atPath: standbyPath).filter { $0.hasPrefix("wal-") && $0.hasSuffix(".log") }
        #expect(!standbyWAL.isEmpty)
        for name in standbyWAL { try Self.expectSamePrefix(primary.directory + "/" + name, standbyPath + "/" + name) }
    }

    @Test func aStandbyKilledAtRandomMomentsResumesWithNothingMissingOrDoubled() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["STANDBY_KILL_CYCLES"] ?? "") ?? 20
        var rng = SeededRandom(seed: 20_261_201)
        let keys = try Keys()
        let primary = try RunningServer(keysFile: keys.path, directory: try Self.smallWALDirectory())
        defer { primary.removeDirectory() }
        let client = Self.client(primary, keys)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        let standbyPath = try Self.baseBackup(of: primary, keys)
        var standby = try Self.startStandby(standbyPath, of: primary, keys)
        defer { standby.removeDirectory() }
        var acknowledged: Set<UInt128> = []
        var restartsBehind = 0
        for cycle in 0..<cycles {
            let load = Self.load(primary, keys, idBase: UInt128(cycle + 1) * 1_000_000_000, lanes: 2, largeBatch: 200)
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...400, using: &rng)))
            standby.kill()  // while it receives and applies
            acknowledged.formUnion(await load.cancelAfter(milliseconds: 0))
            // Written while the standby is down: it must catch up on restart.
            let whileDown = Self.entries(from: UInt128(cycle + 1) * 1_000_000_000 + 900_000_000, count: 100)
            for (entry, result) in zip(whileDown, try await client.submit(whileDown)) where result == .ok { acknowledged.insert(entry.id) }
            let primaryLSN = try await client.status().lastLSN
            standby = try Self.startStandby(standbyPath, of: primary, keys)
            let restarted = Self.client(standby, keys)
            try await Self.waitForCatchUp(restarted, client)
            // It asked for the records after its durable LSN, which the
            // primary wrote while it was down.
            let log = (try? String(contentsOfFile: standbyPath + ".log", encoding: .utf8)) ?? ""
            let from = log.components(separatedBy: "fromLSN=").last.flatMap { UInt64($0.prefix { $0.isNumber }) }
            if let from, from <= primaryLSN { restartsBehind += 1 }
            let (p, s) = (try await client.lookupAccounts([1, 2]), try await restarted.lookupAccounts([1, 2]))
            #expect(p == s, "cycle \(cycle): the standby's balances differ from the primary's")
            // Equal to the primary's (which holds each id at most once), and
            // at least every acknowledged entry (a call cut off by the
            // cancellation may be applied unacknowledged).
            #expect((s[0]?.debitsPosted ?? 0) >= UInt128(acknowledged.count), "cycle \(cycle): acknowledged entries are missing")
            let sample = Array(acknowledged.shuffled(using: &rng).prefix(2_000))
            #expect(try await restarted.lookupEntries(sample).allSatisfy { $0 != nil }, "cycle \(cycle): an acknowledged entry is missing")
            await restarted.close()
        }
        #expect(restartsBehind == cycles, "\(cycles - restartsBehind) restarts did not resume from before the primary's end")
        await client.close()
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(try Self.ledgerctl(["verify", "--data-dir", standbyPath]).status == 0)
        #expect(primary.stop(keepDirectory: true) == 0)
    }

    static func scrape(_ server: RunningServer) throws -> String {
        let http = try ServerEndToEndTests.Connection(port: server.metricsPort)
        http.send(Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        var text = ""
        while let chunk = http.receiveSome() { text += String(decoding: chunk, as: UTF8.self) }
        return text
    }

    /// debitsPosted of account 1, read offline from a stopped directory.
    static func offlineDebits(_ directory: String) throws -> UInt128? {
        let (status, output) = try ledgerctl(["balance", "1", "--json", "--data-dir", directory])
        guard status == 0, let range = output.range(of: #""debitsPosted":"?([0-9]+)"#, options: .regularExpression) else { return nil }
        return UInt128(output[range].filter(\.isNumber))
    }

    @Test func withASynchronousStandbyWritesWaitForItAndEveryAcknowledgedEntryIsOnItsDisk() async throws {
        let keys = try Keys()
        let primary = try RunningServer(keysFile: keys.path, arguments: ["--synchronous-standbys", "1"])
        defer { primary.removeDirectory() }
        // No standby yet: the write is durable here but not answered.
        let impatient = Self.client(primary, keys, deadlineMs: 1_000)
        let accounts = [NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]
        await #expect(throws: LedgerClientError.self) { _ = try await impatient.createAccounts(accounts) }
        await impatient.close()
        let waiting = try Self.scrape(primary)
        #expect(waiting.contains("ledger_synchronous_standbys{kind=\"connected\"} 0"), "\(waiting.suffix(800))")
        #expect(waiting.contains("ledger_synchronous_waiting_groups 1"))
        let standbyPath = try Self.baseBackup(of: primary, keys)
        var standby = try Self.startStandby(standbyPath, of: primary, keys)
        defer { standby.removeDirectory() }
        let client = Self.client(primary, keys)
        let retried = try await client.createAccounts(accounts)  // the same ids: applied once, now replicated
        #expect(retried.allSatisfy { $0 == .ok || $0 == .exists }, "\(retried)")
        let streaming = try Self.scrape(primary)
        #expect(streaming.contains("ledger_synchronous_standbys{kind=\"connected\"} 1") && streaming.contains("ledger_synchronous_waiting_groups 0"))
        #expect(streaming.contains("ledger_replication_standby_lsn{standby=\"repl\",kind=\"durable\"}"))
        #expect(try Self.scrape(standby).contains("ledger_standby_streaming 1"))
        // Acknowledged means durable on the standby: kill it right after.
        let acknowledged = await Self.load(primary, keys, idBase: 1_000_000, lanes: 3, largeBatch: 500).cancelAfter(milliseconds: 1_500)
        standby.kill()
        #expect(acknowledged.count > 500)
        let onStandby = try Self.offlineDebits(standbyPath)
        #expect(
            (onStandby ?? 0) >= UInt128(acknowledged.count), "the standby holds \(String(describing: onStandby)) of \(acknowledged.count) acknowledged entries")
        // Restarted, it catches up and the primary answers again.
        standby = try Self.startStandby(standbyPath, of: primary, keys)
        #expect(try await client.submit(NewEntry(id: 99, postings: [.debit(1, 1), .credit(2, 1)])) == .ok)
        await client.close()
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(primary.stop(keepDirectory: true) == 0)
    }

    @Test func aStandbyPastItsSlotCapIsToldToTakeANewBaseBackupAndRecoversThroughOne() async throws {
        let keys = try Keys()
        // Small WAL files and frequent snapshots, so compaction runs; a slot
        // may keep no WAL at all.
        let directory = temporaryDirectory() + "-primary"
        #expect(try Self.ledgerctl(["init", "--data-dir", directory, "--wal-file-mib", "1"]).status == 0)
        let primary = try RunningServer(
            keysFile: keys.path, directory: directory, arguments: ["--snapshot-interval-mib", "1", "--max-slot-wal-keep-mib", "0"])
        defer { primary.removeDirectory() }
        let client = Self.client(primary, keys)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        let standbyPath = try Self.baseBackup(of: primary, keys)
        defer { try? FileManager.default.removeItem(atPath: standbyPath) }
        // The standby stays down while the primary writes several WAL files
        // and compacts past the slot.
        var id: UInt128 = 1_000_000
        for _ in 0..<12 {
            #expect(try await client.submit(Self.entries(from: id, count: 2_000)).allSatisfy { $0 == .ok })
            id += 2_000
        }
        var standby = try Self.startStandby(standbyPath, of: primary, keys)
        let deadline = Date().addingTimeInterval(30)
        var log = ""
        while Date() < deadline && !log.contains("needBaseBackup") {
            try await Task.sleep(for: .milliseconds(100))
            log = (try? String(contentsOfFile: standbyPath + ".log", encoding: .utf8)) ?? ""
        }
        #expect(log.contains("needBaseBackup") && log.contains("invalidated"), "the standby's log: \(log.suffix(1_000))")
        #expect(try Self.scrape(standby).contains("ledger_standby_streaming 0"))
        #expect(standby.stop(keepDirectory: true) == 0)
        // A new base backup under the same key makes the slot valid again.
        let fresh = try Self.baseBackup(of: primary, keys)
        standby = try Self.startStandby(fresh, of: primary, keys)
        defer { standby.removeDirectory() }
        let standbyClient = Self.client(standby, keys)
        try await Self.waitForCatchUp(standbyClient, client)
        #expect(try await standbyClient.lookupAccounts([1]) == client.lookupAccounts([1]))
        await standbyClient.close()
        await client.close()
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(primary.stop(keepDirectory: true) == 0)
        // Offline, the slot is listed valid again, at the new standby's LSN.
        let (status, slots) = try Self.ledgerctl(["slots", "--data-dir", primary.directory, "--json"])
        #expect(status == 0 && slots.contains("\"key\":\"repl\"") && slots.contains("\"valid\":true"), "\(slots)")
    }
}

extension Task where Failure == Never {
    /// Cancels the task after a while and returns its value.
    func cancelAfter(milliseconds: Int) async -> Success {
        if milliseconds > 0 { try? await Task<Never, Never>.sleep(for: .milliseconds(milliseconds)) }
        cancel()
        return await value
    }
}
