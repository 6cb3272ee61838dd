// Operating errors: environmental failures and bad input. Programmer errors
// trap instead (precondition/assert).

/// What went wrong, in one line: a code, a message, and the file and offset
/// when a file is at fault (corruption is always named by both).
public struct LedgerError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// A syscall failed (errno in `errno`).
        case io
        /// fdatasync/fsync/msync failed: the engine has stopped (crash-stop) and
        /// must be restarted so recovery can rebuild state from the log.
        case syncFailed
        /// The disk is full.
        case noSpace
        /// Bytes on disk fail a checksum or a structural check.
        case corruption
        /// Another process holds the data directory's lock.
        case locked
        /// The data directory does not exist or was never initialised.
        case notInitialized
        /// The data directory already holds a ledger.
        case alreadyInitialized
        /// A batch's bytes are structurally invalid (nothing was applied).
        case malformedBatch
        /// A batch exceeds a limit (events or bytes).
        case batchTooLarge
        /// The commit queue is full; retry later.
        case queueFull
        /// The engine stopped after a fatal error; no further writes.
        case stopped
        /// A read-only open found recovery work (unfiled events) that this
        /// read needs done first; a read-write open does it.
        case needsRecovery
        /// A format version this build does not know.
        case unsupportedVersion
        /// Invalid command-line or JSON input.
        case invalidInput
        /// This data directory is a standby (it holds `standby.signal`):
        /// writes go to its primary (Specs/replication.md).
        case notPrimary
        /// Synchronous commit: durable on the primary, but the standbys'
        /// acknowledgments did not arrive before a shutdown or stop; the
        /// outcome is unknown (retry with the same ids).
        case notReplicated
    }

    public var code: Code
    public var message: String
    public var path: String?
    public var offset: Int?
    public var errno: Int32?

    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
    }

    /// Damage reported without a way forward gets one: every refusal of a
    /// damaged directory names the command that investigates it. Applied
    /// where errors leave the engine (open, queries), so readers deep inside
    /// (a short read, a size that disagrees) need not each know the CLI.
    public func withInvestigationHint() -> LedgerError {
        guard code == .corruption || code == .unsupportedVersion, !message.contains("ledgerctl") else { return self }
        var hinted = self
        hinted.message += "; investigate with `ledgerctl verify`"
        return hinted
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let path { text += " [file \(path)" + (offset.map { " offset \($0)" } ?? "") + "]" }
        if let errno { text += " (errno \(errno))" }
        return text
    }
}
