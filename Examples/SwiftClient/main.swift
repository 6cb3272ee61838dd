// The Swift client in a program of its own: it links LedgerClient and
// LedgerModel only (no zstd, lz4 or libcrypto; `make test-clients` checks
// with ldd). Posts one wallet top-up:
//
//   LEDGER_PORT=7380 LEDGER_KEY_ID=dev LEDGER_SECRET=<hex> swift run SwiftClientExample
import Foundation
import LedgerClient
import LedgerModel

let environment = ProcessInfo.processInfo.environment
let secretHex = environment["LEDGER_SECRET"] ?? ""
let secret = stride(from: 0, to: secretHex.count - 1, by: 2).compactMap {
    UInt8(secretHex.dropFirst($0).prefix(2), radix: 16)
}
let client = LedgerClient(
    LedgerClientConfiguration(
        port: Int(environment["LEDGER_PORT"] ?? "") ?? 7380, keyID: environment["LEDGER_KEY_ID"] ?? "dev", secret: secret))
do {
    print(try await client.createAccounts([NewAccount(id: 1, ledger: 1), NewAccount(id: 2, ledger: 1)]))
    print(try await client.submit([NewEntry(id: 1001, postings: [.debit(1, 2500), .credit(2, 2500)])]))
} catch {
    print("error: \(error)")
}
await client.close()
