import Foundation
import LedgerClient
import LedgerEngine
import LedgerProtocol
import LedgerTestSupport
import Testing

/// Clients post concurrently over TCP while the server is SIGKILLed at a
/// random moment; after each restart every acknowledged entry is present
/// exactly once (balances equal the number of entries found, each of
/// amount 1), and at the end `ledgerctl verify` passes.
@Suite(.serialized) struct ServerKillTests {
    static var ledgerctlPath: String {
        if let path = ProcessInfo.processInfo.environment["LEDGERCTL"] { return path }
        return URL(fileURLWithPath: RunningServer.serverPath).deletingLastPathComponent().appendingPathComponent("ledgerctl").path
    }

    /// Ids acknowledged (`ok` or `exists`) and ids sent.
    actor Ledgerbook {
        var acknowledged: Set<UInt128> = []
        var attempted: [UInt128] = []
        func sent(_ ids: [UInt128]) { attempted += ids }
        func acked(_ id: UInt128) { acknowledged.insert(id) }
    }

    @Test func everyAcknowledgedEntrySurvivesSIGKILLExactlyOnce() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["SERVER_KILL_CYCLES"] ?? "") ?? 20
        var rng = SeededRandom(seed: 20_261_122)
        // 1 MiB WAL files: each restart scans the last one to its end.
        var server = try RunningServer(directory: try ReplicationProcessTests.smallWALDirectory())
        let directory = server.directory
        let secret = server.secret
        defer { server.removeDirectory() }
        let book = Ledgerbook()
        do {
            var configuration = LedgerClientConfiguration(port: server.port, keyID: "dev", secret: secret)
            configuration.deadlineMs = 5_000
            let setup = LedgerClient(configuration)
            #expect(try await setup.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
            await setup.close()
        }
        var killsWithWorkInFlight = 0
        var checkedUpTo = 0  // attempted ids looked up after an earlier restart
        var foundEarlier: [UInt128] = []
        for cycle in 0..<cycles {
            var configuration = LedgerClientConfiguration(port: server.port, keyID: "dev", secret: secret)
            configuration.deadlineMs = 400  // calls end soon after the kill; their entries may or may not be in
            let clients = (0..<4).map { _ in LedgerClient(configuration) }
            let posters = Task {
                await withTaskGroup(of: Void.self) { group in
                    for (c, client) in clients.enumerated() {
                        for lane in 0..<8 {
                            group.addTask {
                                var k = 0
                                while !Task.isCancelled {
                                    let base = UInt128(cycle) * 10_000_000 + UInt128(c * 8 + lane) * 100_000 + UInt128(k)
                                    // Alternate single gathered calls and small batches.
                                    let ids = k % 3 == 0 ? (0..<5).map { base + UInt128($0) } : [base]
                                    k += ids.count
                                    await book.sent(ids)
                                    do {
                                        if ids.count == 1 {
                                            let result = try await client.submit(NewEntry(id: ids[0], postings: [.debit(1, 1), .credit(2, 1)]))
                                            if result == .ok || result == .exists { await book.acked(ids[0]) }
                                        } else {
                                            let results = try await client.submit(ids.map { NewEntry(id: $0, postings: [.debit(1, 1), .credit(2, 1)]) })
                                            for (id, result) in zip(ids, results) where result == .ok || result == .exists { await book.acked(id) }
                                        }
                                    } catch {
                                        return  // the server is gone: this lane's last call is unknown
                                    }
                                }
                            }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...300, using: &rng)))
            let before = await book.acknowledged.count
            server.kill()
            // The lanes' calls in flight are unknown either way: stop their
            // retries now instead of at their deadlines.
            posters.cancel()
            await posters.value
            if await book.acknowledged.count > before { killsWithWorkInFlight += 1 }
            for client in clients { await client.close() }

            // Restart on the same directory. This cycle's ids are looked up
            // one by one (with a sample of the earlier ones); the balances,
            // which every entry adds 1 to, account for all of them: an
            // earlier entry lost in this restart would leave them short.
            server = try RunningServer(directory: directory, secret: secret)
            var check = LedgerClientConfiguration(port: server.port, keyID: "dev", secret: secret)
            check.deadlineMs = 30_000
            let checker = LedgerClient(check)
            let attempted = await book.attempted
            let acknowledged = await book.acknowledged
            let thisCycle = Array(attempted[checkedUpTo...])
            let earlier = Array(foundEarlier.shuffled(using: &rng).prefix(500))
            checkedUpTo = attempted.count
            var missing: [UInt128] = []
            for chunk in stride(from: 0, to: thisCycle.count, by: 4_096).map({ Array(thisCycle[$0..<min($0 + 4_096, thisCycle.count)]) }) {
                let rows = try await checker.lookupEntries(chunk)
                for (id, row) in zip(chunk, rows) {
                    if row != nil { foundEarlier.append(id) } else if acknowledged.contains(id) { missing.append(id) }
                }
            }
            let stillThere = earlier.isEmpty ? [] : try await checker.lookupEntries(earlier)
            #expect(stillThere.allSatisfy { $0 != nil }, "cycle \(cycle): an entry found after an earlier restart is gone")
            let found = foundEarlier.count
            #expect(missing.isEmpty, "cycle \(cycle): \(missing.count) acknowledged entries are missing, first \(missing.prefix(3))")
            let balances = try await checker.lookupAccounts([1, 2])
            #expect(
                balances[0]?.debitsPosted == UInt128(found) && balances[1]?.creditsPosted == UInt128(found),
                "cycle \(cycle): \(found) entries of 1 found, balances \(String(describing: balances[0]?.debitsPosted))")
            #expect(found >= acknowledged.count)
            await checker.close()
        }
        #expect(await book.acknowledged.count > cycles * 10, "too little was acknowledged to test anything")
        #expect(killsWithWorkInFlight >= cycles / 2, "the kills mostly missed the clients' work")
        #expect(server.stop(keepDirectory: true) == 0)
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: Self.ledgerctlPath)
        verify.arguments = ["verify", "--data-dir", directory]
        verify.standardOutput = FileHandle.nullDevice
        try verify.run()
        verify.waitUntilExit()
        #expect(verify.terminationStatus == 0, "ledgerctl verify failed on the killed-and-restarted directory")
    }
}
