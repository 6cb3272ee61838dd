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

/// Parses a 128-bit id or amount: decimal digits, or `0x` and hex digits;
/// nothing else (no sign, no spaces, no `_`).
func parseUInt128(_ text: String, what: String) throws -> UInt128 {
    let utf8 = Array(text.utf8)
    let isDigit = { (b: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    let isHexDigit = { (b: UInt8) in isDigit(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b | 0x20) }
    let value: UInt128?
    if utf8.count > 2 && utf8[0] == UInt8(ascii: "0") && utf8[1] == UInt8(ascii: "x") && utf8.dropFirst(2).allSatisfy(isHexDigit) {
        value = UInt128(text.dropFirst(2), radix: 16)
    } else if !utf8.isEmpty && utf8.allSatisfy(isDigit) {
        value = UInt128(text, radix: 10)
    } else {
        value = nil
    }
    guard let value else { throw InputError("\(what) '\(text)' is not an unsigned 128-bit integer (decimal digits, or 0x and hex digits)") }
    return value
}
