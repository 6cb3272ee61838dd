// Remote commands: with --server HOST:PORT, `post`, `balance`, `lookup` and
// `status` go to a running LedgerServer through LedgerClient instead of
// opening the data directory (which the server holds locked).
import ArgumentParser
import Dispatch
import Foundation
import LedgerClient
import LedgerEngine
import LedgerInput
import LedgerProtocol

struct RemoteOptions: ParsableArguments {
    @Option(help: "A running LedgerServer, HOST:PORT (default: $LEDGER_SERVER_ADDRESS; unset: open --data-dir directly).")
    var server: String? = ProcessInfo.processInfo.environment["LEDGER_SERVER_ADDRESS"]
    @Option(help: "API key id for --server (default: $LEDGER_KEY_ID or dev).")
    var keyID: String = ProcessInfo.processInfo.environment["LEDGER_KEY_ID"] ?? "dev"
    @Option(help: "API key secret in hex for --server (default: $LEDGER_SECRET).")
    var secret: String? = ProcessInfo.processInfo.environment["LEDGER_SECRET"]
    @Option(help: "Deadline of each remote call, in milliseconds.") var deadlineMs: Int64 = 10_000
    @Flag(help: "Speak TLS to --server (it runs with --tls-certificate), trusting the system's roots.") var tls = false
    @Option(help: "Speak TLS to --server, trusting the roots in this PEM file (default: $LEDGER_TLS_CA_FILE).")
    var tlsCaFile: String? = ProcessInfo.processInfo.environment["LEDGER_TLS_CA_FILE"]
    @Option(help: "The name to verify the server's certificate against (default: the --server host).") var tlsServerName: String?

    var isRemote: Bool { server != nil }

    func configuration() throws -> LedgerClientConfiguration {
        guard let server, let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]), (1...65_535).contains(port) else {
            throw InputError("--server must be HOST:PORT")
        }
        guard let secret, secret.count % 2 == 0, (32...256).contains(secret.count),
            let bytes = Optional(
                stride(from: 0, to: secret.count, by: 2).compactMap({ i -> UInt8? in
                    let a = secret.index(secret.startIndex, offsetBy: i)
                    return UInt8(secret[a..<secret.index(a, offsetBy: 2)], radix: 16)
                })), bytes.count * 2 == secret.count
        else { throw InputError("--server needs --secret (or $LEDGER_SECRET): the key's secret, 16 to 128 bytes in hex") }
        guard ProtocolFormat.keyIDBytes.contains(keyID.utf8.count) else { throw InputError("--key-id must be 1 to 64 bytes") }
        var configuration = LedgerClientConfiguration(host: String(server[..<colon]), port: port, keyID: keyID, secret: bytes)
        configuration.deadlineMs = deadlineMs
        if tls || tlsCaFile != nil {
            // Secrets cross the wire in admin key commands: this is how they stay private.
            configuration.tls = LedgerClientTLS(trustRootsPEMPath: tlsCaFile, serverHostname: tlsServerName)
        }
        return configuration
    }
}

/// Boxes a value across the bridge from async to the blocking command.
private final class Outcome<T>: @unchecked Sendable {
    var value: Result<T, any Error>?
}

/// Runs `body` against the server and waits for it; client errors become a
/// one-line message and exit code 3, like an unusable data directory.
func withRemote<T>(_ options: RemoteOptions, _ body: @escaping @Sendable (LedgerClient) async throws -> T) throws -> T {
    do {
        return try withRemoteClientErrors(options, body)
    } catch let error as LedgerClientError {
        printError("server \(options.server ?? ""): \(error)")
        throw ExitCode(3)
    }
}

/// As `withRemote`, but a `LedgerClientError` is thrown as it is (for a
/// caller that reports it itself, as `post` does on each line).
func withRemoteClientErrors<T>(_ options: RemoteOptions, _ body: @escaping @Sendable (LedgerClient) async throws -> T) throws -> T {
    let client = LedgerClient(try options.configuration())
    let outcome = Outcome<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        let result: Result<T, any Error>
        do { result = .success(try await body(client)) } catch { result = .failure(error) }
        await client.close()
        outcome.value = result
        done.signal()
    }
    done.wait()
    return try outcome.value!.get()
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Ask a running LedgerServer (--server) for its status.")

    @OptionGroup var remote: RemoteOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard remote.isRemote else { throw ValidationError("status asks a server: give --server HOST:PORT") }
        try runReportingErrors {
            let s = try withRemote(remote) { try await $0.status() }
            if json {
                print(
                    JSONValue.object([
                        ("lastLSN", .string(String(s.lastLSN))), ("accounts", .int(Int(s.accounts))), ("residentEntries", .int(Int(s.residentEntries))),
                        ("uptimeNs", .string(String(s.uptimeNs))), ("connections", .int(Int(s.connections))), ("queueDepth", .int(Int(s.queueDepth))),
                    ]).text)
            } else {
                print(
                    "last LSN \(s.lastLSN), \(s.accounts) accounts, \(s.residentEntries) resident entries, \(s.connections) connections, queue depth \(s.queueDepth), up \(s.uptimeNs / 1_000_000_000) s"
                )
            }
        }
    }
}
