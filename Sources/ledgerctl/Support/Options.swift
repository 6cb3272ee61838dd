import ArgumentParser
import Foundation
import LedgerEngine
import LedgerInput

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
