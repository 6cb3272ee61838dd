import Foundation
import LedgerClient
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import Testing

/// `ledgerctl key` against a running server (docs/operations.md, "API
/// keys"): keys created, rotated and revoked take effect without a restart,
/// other connections stay up, a revoked key's open connection is refused.
@Suite(.serialized) struct KeyCommandProcessTests {
    typealias R = ReplicationProcessTests

    static func key(_ arguments: [String], _ server: RunningServer, _ keys: R.Keys) throws -> (status: Int32, output: String) {
        try R.ledgerctl(["key"] + arguments + ["--data-dir", server.directory, "--keys-file", keys.path])
    }

    static func secret(in output: String) -> [UInt8] {
        let hex = output.split(separator: " ").first { $0.count == 64 && $0.allSatisfy(\.isHexDigit) }
        return hex.flatMap { APIKeysHex.bytes(String($0)) } ?? []
    }

    static func client(_ server: RunningServer, id: String, _ secret: [UInt8]) -> LedgerClient {
        var configuration = LedgerClientConfiguration(port: server.port, keyID: id, secret: secret.count >= 16 ? secret : [UInt8](repeating: 0, count: 16))
        configuration.deadlineMs = 5_000
        return LedgerClient(configuration)
    }

    /// Waits for the server's n-th "reloaded API keys" line.
    static func reloaded(_ server: RunningServer, times: Int) async throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let log = (try? String(contentsOfFile: server.directory + ".log", encoding: .utf8)) ?? ""
            if log.components(separatedBy: "reloaded API keys").count - 1 >= times { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the server did not reload its keys \(times) times")
    }

    @Test func keysChangeOnARunningServerWithoutARestart() async throws {
        let keys = try R.Keys()
        let server = try RunningServer(keysFile: keys.path, directory: try R.smallWALDirectory())
        defer { server.removeDirectory() }
        let dev = R.client(server, keys)
        #expect(try await dev.createAccounts([NewAccount(id: 1, ledger: 840, code: 1), NewAccount(id: 2, ledger: 840, code: 1)]) == [.ok, .ok])

        // Created: usable at once, by a new connection; dev's stays up.
        let created = try Self.key(["create", "--role", "client", "--id", "svc", "--rate", "100000"], server, keys)
        #expect(created.status == 0 && created.output.contains("reloads its keys"), "\(created.output)")
        try await Self.reloaded(server, times: 1)
        let first = Self.secret(in: created.output)
        let svc = Self.client(server, id: "svc", first)
        #expect(try await svc.submit([NewEntry(id: 10, postings: [.debit(1, 1), .credit(2, 1)])]) == [.ok])
        #expect(try await dev.lookupAccounts([1])[0]?.debitsPosted == 1, "dev's connection survived the reload")

        // Listed without secrets or hashes.
        let list = try Self.key(["list"], server, keys)
        #expect(list.output.contains("svc  role client  rate 100000 events/s  secrets 1") && !list.output.contains(KeysFile.hex(first)))

        // Rotated: both secrets work; then the old one is revoked.
        let rotated = try Self.key(["rotate", "svc"], server, keys)
        try await Self.reloaded(server, times: 2)
        let second = Self.secret(in: rotated.output)
        #expect(second.count == 32 && second != first)
        let svc2 = Self.client(server, id: "svc", second)
        #expect(try await svc2.submit([NewEntry(id: 11, postings: [.debit(1, 1), .credit(2, 1)])]) == [.ok])
        #expect(try await Self.client(server, id: "svc", first).lookupAccounts([1])[0]?.debitsPosted == 2, "the old secret still works")
        #expect(try Self.key(["rotate", "svc"], server, keys).status == 2, "a third secret is refused")
        #expect(try Self.key(["revoke", "svc", "--old"], server, keys).status == 0)
        try await Self.reloaded(server, times: 3)
        await #expect(throws: LedgerClientError.self) { _ = try await Self.client(server, id: "svc", first).lookupAccounts([1]) }
        #expect(try await svc2.lookupAccounts([1])[0]?.debitsPosted == 2)

        // Revoked entirely: its open connection is refused at its next request.
        #expect(try Self.key(["revoke", "svc"], server, keys).status == 0)
        try await Self.reloaded(server, times: 4)
        do {
            _ = try await svc2.lookupAccounts([1])
            Issue.record("a revoked key was served")
        } catch LedgerClientError.refused(let status, let message) {
            #expect(status == .unauthenticated && message.contains("revoked"), "\(message)")
        }
        #expect(try await dev.lookupAccounts([2])[0]?.creditsPosted == 2)

        // An admin key may not post or read; a file broken by hand is not
        // loaded and the keys in force stay.
        let admin = try Self.key(["create", "--role", "admin", "--id", "ops"], server, keys)
        try await Self.reloaded(server, times: 5)
        do {
            _ = try await Self.client(server, id: "ops", Self.secret(in: admin.output)).lookupAccounts([1])
            Issue.record("an admin key read the ledger")
        } catch LedgerClientError.refused(let status, _) {
            #expect(status == .forbidden)
        }
        try (try String(contentsOfFile: keys.path, encoding: .utf8) + "broken line\n").write(toFile: keys.path, atomically: true, encoding: .utf8)
        #expect(kill(server.process.processIdentifier, SIGHUP) == 0)
        #expect(try await PromotionProcessTests.waitForLog(server, "not reloaded").contains("previous ones stay in force"))
        #expect(try await dev.lookupAccounts([1])[0]?.debitsPosted == 2)
        #expect(try Self.key(["list"], server, keys).status == 2, "list names the broken line")
        await dev.close()
        #expect(server.stop() == 0)
    }

    @Test func anAdminKeyManagesKeysThroughTheServer() async throws {
        let keys = try R.Keys()
        let admin = Self.secret(in: try R.ledgerctl(["key", "create", "--role", "admin", "--id", "ops", "--keys-file", keys.path]).output)
        let server = try RunningServer(keysFile: keys.path, directory: try R.smallWALDirectory())
        defer { server.removeDirectory() }
        let remote = ["--server", "127.0.0.1:\(server.port)", "--key-id", "ops", "--secret", KeysFile.hex(admin)]
        let created = try R.ledgerctl(["key", "create", "--role", "client", "--id", "web"] + remote)
        #expect(created.status == 0 && created.output.contains("\"id\":\"web\""), "\(created.output)")
        let web = Self.client(server, id: "web", Self.secret(in: created.output.replacingOccurrences(of: "\"", with: " ")))
        #expect(try await web.createAccounts([NewAccount(id: 1, ledger: 840, code: 1)]) == [.ok], "the new key works at once")
        let list = try R.ledgerctl(["key", "list"] + remote)
        #expect(list.output.contains("\"id\":\"web\"") && list.output.contains("\"id\":\"ops\"") && !list.output.contains("secret\""), "\(list.output)")
        // The file on disk holds it too (the server changed its own file).
        #expect(try Self.key(["list"], server, keys).output.contains("web  role client"))
        #expect(try R.ledgerctl(["key", "rotate", "web"] + remote).output.contains("\"secret\""))
        #expect(try R.ledgerctl(["key", "revoke", "web"] + remote).status == 0)
        do {
            _ = try await web.lookupAccounts([1])
            Issue.record("a key revoked through the server was served")
        } catch LedgerClientError.refused(let status, _) { #expect(status == .unauthenticated) }
        // A client key may not manage keys.
        let dev = R.client(server, keys)
        await #expect(throws: LedgerClientError.self) { _ = try await dev.admin(.keyList) }
        #expect(try R.ledgerctl(["key", "revoke", "nobody"] + remote).status == 3, "an unknown key is refused")
        // An id too long for the wire (or the file) is bad input, not a trap.
        let long = String(repeating: "k", count: 300)
        for command in [["revoke", long], ["rotate", long], ["create", "--id", long]] {
            #expect(try R.ledgerctl(["key"] + command + remote).status == 2, "\(command[0])")
        }
        await dev.close()
        #expect(server.stop() == 0)
    }
}
