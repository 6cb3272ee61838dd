import Foundation
import LedgerEngine
import LedgerKeys
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// The keys file: lines parse and print back, a key has at most two secrets
/// that agree on role and rate, and the server accepts either secret of a
/// rotating key and nothing else.
@Suite struct KeysFileTests {
    @Test func linesRoundTripAndBrokenOnesAreRefusedWithTheirNumber() throws {
        let (a, _) = KeysFile.newSecret(id: "alpha", eventsPerSecond: 0, role: .client)
        let (b, _) = KeysFile.newSecret(id: "beta", eventsPerSecond: 500, role: .replication)
        let (b2, _) = KeysFile.newSecret(id: "beta", eventsPerSecond: 500, role: .replication)
        let text = "# keys\n" + KeysFile.text([a, b, b2]) + "\n"
        #expect(try KeysFile.parse(text, path: "k") == [a, b, b2])
        #expect(b.line.hasSuffix(" 500 role=replication") && !a.line.contains("role="))
        let (b3, _) = KeysFile.newSecret(id: "beta", eventsPerSecond: 500, role: .replication)
        let (otherRole, _) = KeysFile.newSecret(id: "alpha", eventsPerSecond: 0, role: .admin)
        for (bad, says) in [
            (KeysFile.text([a, b, b2, b3]), "line 4: key id 'beta' has more than 2 secrets"),
            (KeysFile.text([a, otherRole]), "line 2: key id 'alpha' has lines with different roles or rates"),
            ("alpha 00 11\n", "line 1 is not"), (a.line + " role=root\n", "line 1 is not"), (a.line + " -5\n", "line 1 is not"),
        ] {
            #expect(throws: LedgerError.self) { try KeysFile.parse(bad, path: "k") }
            do { _ = try KeysFile.parse(bad, path: "k") } catch { #expect("\(error)".contains(says), "\(error)") }
        }
    }

    @Test func eitherSecretOfARotatingKeyVerifiesAndNothingElse() throws {
        let (old, oldSecret) = KeysFile.newSecret(id: "svc", eventsPerSecond: 7, role: .client)
        let (new, newSecret) = KeysFile.newSecret(id: "svc", eventsPerSecond: 7, role: .client)
        let keys = APIKeys(entries: [old, new])
        #expect(keys.verify(keyID: "svc", secret: oldSecret) && keys.verify(keyID: "svc", secret: newSecret))
        #expect(!keys.verify(keyID: "svc", secret: [UInt8](repeating: 1, count: 32)))
        #expect(!keys.verify(keyID: "nobody", secret: newSecret))
        #expect(keys.eventsPerSecond(keyID: "svc") == 7 && keys.role(keyID: "svc") == .client)
        // Reloaded from a file without the old secret: only the new one works.
        let path = temporaryDirectory() + ".keys"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try KeysFile.text([new]).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try keys.reload(path: path) == 1)
        #expect(!keys.verify(keyID: "svc", secret: oldSecret) && keys.verify(keyID: "svc", secret: newSecret))
        // A broken file is refused and the keys stay as they were.
        try "svc not-hex\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: LedgerError.self) { _ = try keys.reload(path: path) }
        #expect(keys.verify(keyID: "svc", secret: newSecret))
    }
}
