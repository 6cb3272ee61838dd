import Foundation
import LedgerClient
import LedgerEngine
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

    /// Posts batches of 8,189 and single entries of amount 1 between
    /// accounts 1 and 2 from several lanes until cancelled; returns the
    /// ids acknowledged.
    static func load(_ server: RunningServer, _ keys: Keys, idBase: UInt128, lanes: Int) -> Task<Set<UInt128>, Never> {
        let (port, secret) = (server.port, keys.clientSecret)
        return Task {
            let client = Self.client(port: port, secret, deadlineMs: 2_000)
            defer { Task { await client.close() } }
            return await withTaskGroup(of: Set<UInt128>.self) { group in
                for lane in 0..<lanes {
                    group.addTask {
                        var acknowledged: Set<UInt128> = []
                        var next = idBase + UInt128(lane) * 10_000_000
                        while !Task.isCancelled {
                            let count = lane == 0 ? 8_189 : 1
                            let ids = (0..<count).map { next + UInt128($0) }
                            next += UInt128(count)
                            guard let results = try? await client.submit(ids.map { NewEntry(id: $0, postings: [.debit(1, 1), .credit(2, 1)]) }) else { break }
                            for (id, result) in zip(ids, results) where result == .ok || result == .exists { acknowledged.insert(id) }
                        }
                        return acknowledged
                    }
                }
                return await group.reduce(into: Set<UInt128>()) { $0.formUnion($1) }
            }
        }
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
        // Writes are refused on the standby, naming the primary.
        await #expect(throws: LedgerClientError.self) { _ = try await standbyClient.createAccounts([NewAccount(id: 3, ledger: 840, code: 1)]) }
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
}

extension Task where Failure == Never {
    /// Cancels the task after a while and returns its value.
    func cancelAfter(milliseconds: Int) async -> Success {
        try? await Task<Never, Never>.sleep(for: .milliseconds(milliseconds))
        cancel()
        return await value
    }
}
