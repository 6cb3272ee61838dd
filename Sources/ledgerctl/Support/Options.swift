import ArgumentParser
import Foundation
import LedgerEngine

/// Options every command that touches a data directory shares.
struct DataDirectoryOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The ledger data directory (default: $LEDGER_DATA_DIR or ./data).")
    var dataDirectory: String = ProcessInfo.processInfo.environment["LEDGER_DATA_DIR"] ?? "./data"
}

/// Runs `body`, turning engine errors into a one-line message and an exit
/// code instead of a stack trace.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as LedgerError {
        printError(error.description)
        switch error.code {
        case .invalidInput, .malformedBatch, .batchTooLarge: throw ExitCode(2)
        default: throw ExitCode(3)
        }
    } catch let error as InputError {
        printError(error.message)
        throw ExitCode(2)
    }
}

struct InputError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("ledgerctl: error: \(message)\n".utf8))
}

func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("ledgerctl: \(message)\n".utf8))
}

/// Opens the directory read-only (queries): nothing in it changes.
func openReader(_ options: DataDirectoryOptions) throws -> LedgerReader {
    try LedgerReader(at: options.dataDirectory, log: { printWarning($0) })
}

func openLedger(_ options: DataDirectoryOptions, clock: (@Sendable () -> UInt64)? = nil) throws -> Ledger {
    var engineOptions = Ledger.Options()
    engineOptions.log = { printWarning($0) }
    if let clock { engineOptions.clock = clock }
    return try Ledger.open(at: options.dataDirectory, options: engineOptions)
}

/// Parses a 128-bit id or amount: decimal digits, or 0x-prefixed hex.
func parseUInt128(_ text: String, what: String) throws -> UInt128 {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let value: UInt128?
    if trimmed.lowercased().hasPrefix("0x") {
        value = UInt128(trimmed.dropFirst(2), radix: 16)
    } else {
        value = trimmed.allSatisfy(\.isASCII) ? UInt128(trimmed, radix: 10) : nil
    }
    guard let value else { throw InputError("\(what) '\(text)' is not an unsigned 128-bit integer (decimal, or hex with 0x)") }
    return value
}
