import Foundation
import LedgerClient
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import Testing

/// The Swift client against a real server: gathering of concurrent calls,
/// every operation, local refusal of a malformed entry, wrong keys,
/// deadlines, and retries with the same ids across a server restart.
@Suite(.serialized) struct ClientTests {
    static func client(_ server: RunningServer, deadlineMs: Int64 = 10_000, keyID: String = "dev", secret: [UInt8]? = nil) -> LedgerClient {
        var configuration = LedgerClientConfiguration(port: server.port, keyID: keyID, secret: secret ?? server.secret)
        configuration.deadlineMs = deadlineMs
        return LedgerClient(configuration)
    }

    @Test func concurrentSingleEntriesAreGatheredAndAppliedOnce() async throws {
        let server = try RunningServer()
        defer { _ = server.stop() }
        let client = Self.client(server)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        let count = 2_000
        let results = try await withThrowingTaskGroup(of: ResultCode.self) { group in
            for i in 0..<count {
                group.addTask { try await client.submit(NewEntry(id: UInt128(10_000 + i), postings: [.debit(1, 3), .credit(2, 3)])) }
            }
            return try await group.reduce(into: [ResultCode]()) { $0.append($1) }
        }
        #expect(results.count == count && results.allSatisfy { $0 == .ok })
        let requests = await client.requestsSent
        #expect(requests < count / 4, "\(count) concurrent calls took \(requests) requests: not gathered")
        let accounts = try await client.lookupAccounts([1, 2, 3])
        #expect(accounts[0]?.debitsPosted == UInt128(3 * count) && accounts[1]?.creditsPosted == UInt128(3 * count) && accounts[2] == nil)
        // The same ids again: `exists`, nothing changes.
        #expect(try await client.submit([NewEntry(id: 10_000, postings: [.debit(1, 3), .credit(2, 3)])]) == [.exists])
        let entries = try await client.lookupEntries([10_005, 9])
        #expect(entries[0]?.entry.postings.first?.amount == 3 && entries[1] == nil)
        let page = try await client.history(HistoryQuery(account: 2, limit: 10))
        #expect(page.items.count == 10 && page.items.allSatisfy { $0.creditsPostedDelta == 3 })
        let asOf = try await client.balance(account: 2, asOfNs: page.items[4].timestamp)
        #expect(asOf.creditsPosted == 15)
        let status = try await client.status()
        #expect(status.accounts == 2 && status.residentEntries == UInt64(count) && status.lastLSN >= 1)
        await client.close()
    }

    @Test func eachGatheredCallGetsItsOwnResultAndWrongKeyIsRefused() async throws {
        let server = try RunningServer()
        defer { _ = server.stop() }
        let client = Self.client(server)
        _ = try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)])
        let tooMany = NewEntry(id: 5, postings: (0..<(Limits.entryPostingsMax + 1)).map { _ in .debit(1, 1) })
        async let good = client.submit(NewEntry(id: 6, postings: [.debit(1, 1), .credit(2, 1)]))
        // Each gathered call gets its own event's result.
        #expect(try await client.submit(tooMany) == .tooManyPostings)
        #expect(try await good == .ok, "the well-formed entry gathered beside it is applied")
        // A request the server would refuse whole is refused locally, without a round trip.
        await #expect(throws: LedgerClientError.refused(.malformedBody, "a request takes 1...8189 events, not 0")) { try await client.submit([NewEntry]()) }
        let wrong = Self.client(server, deadlineMs: 2_000, secret: [UInt8](repeating: 9, count: 32))
        do {
            _ = try await wrong.status()
            Issue.record("a wrong key was accepted")
        } catch LedgerClientError.refused(let status, _) {
            #expect(status == .unauthenticated)
        }
    }

    @Test func retriesWithTheSameIdsAcrossARestartAndEndsAtItsDeadline() async throws {
        let first = try RunningServer()
        let client = Self.client(first, deadlineMs: 30_000)
        _ = try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)])
        #expect(try await client.submit(NewEntry(id: 77, postings: [.debit(1, 5), .credit(2, 5)])) == .ok)
        first.kill()
        // Submitted while no server listens: retried until one is back on the same port.
        async let retried = client.submit([
            NewEntry(id: 78, postings: [.debit(1, 5), .credit(2, 5)]), NewEntry(id: 77, postings: [.debit(1, 5), .credit(2, 5)]),
        ])
        try await Task.sleep(for: .milliseconds(300))
        let second = try RunningServer(directory: first.directory, secret: first.secret, port: first.port)
        #expect(try await retried == [.ok, .exists], "id 77 was applied once, before the kill")
        #expect(await client.retries > 0)
        let accounts = try await client.lookupAccounts([1])
        #expect(accounts[0]?.debitsPosted == 10)
        #expect(second.stop() == 0)
        // No server at all, and this client never reached one there: refused at
        // once, as such (not at its deadline).
        let lonely = Self.client(second, deadlineMs: 10_000)
        let started = ContinuousClock.now
        await #expect(throws: LedgerClientError.connectionRefused("127.0.0.1:\(second.port)")) { try await lonely.status() }
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}

extension ClientTests {
    static var ledgerctlPath: String {
        if let path = ProcessInfo.processInfo.environment["LEDGERCTL"] { return path }
        return URL(fileURLWithPath: RunningServer.serverPath).deletingLastPathComponent().appendingPathComponent("ledgerctl").path
    }

    /// Runs ledgerctl with `arguments` and `input`; its exit status and output.
    static func ledgerctl(_ arguments: [String], input: String = "") throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ledgerctlPath)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// `ledgerctl --server`: post, balance, lookup and status against a
    /// running server (whose directory it could not open: the server holds it).
    @Test func ledgerctlRemoteCommands() throws {
        let server = try RunningServer()
        defer { _ = server.stop() }
        let remote = ["--server", "127.0.0.1:\(server.port)", "--secret", server.secret.map { String(format: "%02x", $0) }.joined()]
        let events = """
            {"createAccount":{"id":"1","ledger":840,"code":1}}
            {"createAccount":{"id":"2","ledger":840,"code":1}}
            {"id":"1001","postings":[{"account":"1","debit":"2500"},{"account":"2","credit":"2500"}]}
            {"id":"1001","postings":[{"account":"1","debit":"2500"},{"account":"2","credit":"2500"}]}
            """
        let post = try Self.ledgerctl(["post"] + remote, input: events)
        #expect(post.status == 0)
        #expect(post.output.components(separatedBy: "\"result\":\"ok\"").count - 1 == 3 && post.output.contains("\"result\":\"exists\""), "\(post.output)")
        let balance = try Self.ledgerctl(["balance", "2", "--json"] + remote)
        #expect(balance.status == 0 && balance.output.contains("\"creditsPosted\":\"2500\""), "\(balance.output)")
        let lookup = try Self.ledgerctl(["lookup", "1001"] + remote)
        #expect(lookup.status == 0 && lookup.output.contains("\"id\":\"1001\""), "\(lookup.output)")
        #expect(try Self.ledgerctl(["lookup", "404"] + remote).status == 1)
        let status = try Self.ledgerctl(["status", "--json"] + remote)
        #expect(status.status == 0 && status.output.contains("\"accounts\":2"), "\(status.output)")
        // A wrong secret: refused, exit 3.
        #expect(try Self.ledgerctl(["status", "--server", "127.0.0.1:\(server.port)", "--secret", String(repeating: "ab", count: 32)]).status == 3)
    }
}

extension ClientTests {
    /// With --tls-certificate the protocol port speaks TLS: a client that
    /// trusts the certificate is served; a plain-TCP client and a client that
    /// does not trust it are not.
    @Test func tlsServesOnlyClientsThatSpeakAndTrustIt() async throws {
        let directory = NSTemporaryDirectory() + "ledger-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem",
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0, "openssl could not make a test certificate")
        let server = try RunningServer(arguments: ["--tls-certificate", directory + "/cert.pem", "--tls-private-key", directory + "/key.pem"])
        defer { _ = server.stop() }

        var trusting = LedgerClientConfiguration(port: server.port, keyID: "dev", secret: server.secret)
        trusting.tls = LedgerClientTLS(trustRootsPEMPath: directory + "/cert.pem", serverHostname: "localhost")
        let client = LedgerClient(trusting)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1)]) == [.ok])
        #expect(try await client.status().accounts == 1)
        await client.close()

        var plain = LedgerClientConfiguration(port: server.port, keyID: "dev", secret: server.secret)
        plain.deadlineMs = 1_000
        await #expect(throws: LedgerClientError.deadlineExceeded) { try await LedgerClient(plain).status() }
        var untrusting = plain
        untrusting.tls = LedgerClientTLS(serverHostname: "localhost")  // the system roots do not sign it
        await #expect(throws: (any Error).self) { try await LedgerClient(untrusting).status() }
        // ledgerctl --server over TLS (how an admin key's secrets stay private).
        let remote = ["status", "--server", "127.0.0.1:\(server.port)", "--secret", KeysFile.hex(server.secret), "--deadline-ms", "3000"]
        let overTLS = try ReplicationProcessTests.ledgerctl(remote + ["--tls-ca-file", directory + "/cert.pem", "--tls-server-name", "localhost"])
        #expect(overTLS.status == 0 && overTLS.output.contains("accounts"), "\(overTLS.output)")
        #expect(try ReplicationProcessTests.ledgerctl(remote).status != 0, "plain TCP to a TLS server")
    }
}

extension ClientTests {
    /// A refusal the client must retry (`rateLimited` from a key limited to
    /// 10 events per second): the call is sent again with the same bytes
    /// until the bucket refills, and succeeds once, within its deadline.
    @Test func retriesARateLimitedRequestUntilTheBucketRefills() async throws {
        let secret = [UInt8](repeating: 3, count: 32)
        let salt = [UInt8](repeating: 5, count: 16)
        let hasher = SHA256Hasher()
        hasher.update(salt)
        hasher.update(secret)
        let hex = { (b: [UInt8]) in b.map { String(format: "%02x", $0) }.joined() }
        let keysFile = NSTemporaryDirectory() + "ledger-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try "slow \(hex(salt)) \(hex(hasher.finish())) 10\n".write(toFile: keysFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keysFile) }
        let server = try RunningServer(keysFile: keysFile)
        defer { _ = server.stop() }
        var configuration = LedgerClientConfiguration(port: server.port, keyID: "slow", secret: secret)
        configuration.deadlineMs = 10_000
        let client = LedgerClient(configuration)
        #expect(try await client.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])
        let eight = { (base: UInt128) in (0..<8).map { NewEntry(id: base + UInt128($0), postings: [.debit(1, 1), .credit(2, 1)]) } }
        let before = await client.retries
        #expect(try await client.submit(eight(100)) == [ResultCode](repeating: .ok, count: 8))
        #expect(try await client.submit(eight(200)) == [ResultCode](repeating: .ok, count: 8), "retried past rateLimited")
        #expect(await client.retries > before, "the second request was refused at least once and retried")
        #expect(try await client.lookupAccounts([1])[0]?.debitsPosted == 16, "each entry applied once")
        await client.close()
    }
}
