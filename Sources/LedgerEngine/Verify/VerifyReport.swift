// What `verify` found, and the one classification of its problems.

public struct VerifyReport: Sendable {
    public enum Severity: String, Sendable { case error, warning }

    public struct Problem: Sendable, CustomStringConvertible {
        public var severity: Severity
        public var file: String
        public var offset: Int?
        public var kind: String
        public var message: String
        public var description: String {
            "\(severity.rawValue): \(file)\(offset.map { " offset \($0)" } ?? ""): \(kind): \(message)"
        }
    }

    public struct LedgerTotals: Sendable {
        public var ledger: UInt32
        public var debitsPosted: UInt128 = 0
        public var creditsPosted: UInt128 = 0
        public var debitsPending: UInt128 = 0
        public var creditsPending: UInt128 = 0
    }

    public var walFiles = 0
    public var walRecords = 0
    public var walBytes = 0
    public var lastLSN: UInt64 = 0
    public var accounts = 0
    public var entries = 0
    public var openHolds = 0
    /// The resident window's rule the replay followed (`ledger.meta`).
    public var residentWindowMonths = 0
    public var indexSlotsChecked = 0
    /// The SHA-256 chain head after the last group record, and its LSN.
    public var chainHead = ""
    public var chainLSN: UInt64 = 0
    public var snapshotFiles = 0
    /// The snapshot LSN the replay started from (0: the WAL's start).
    public var replayStartLSN: UInt64 = 0
    public var segmentFiles = 0
    public var segmentRecords = 0
    /// Account-ordered copies of sealed months checked in full.
    public var accountCopiesChecked = 0
    /// (month, SHA-256 month root in hex) of every sealed month, oldest first.
    public var sealedMonths: [(month: String, root: String)] = []
    /// Every month on disk, oldest first, with the form it is held in.
    public var monthForms: [(month: String, form: SegmentForm)] = []
    public var ledgers: [LedgerTotals] = []
    public var problems: [Problem] = []

    public var passed: Bool { !problems.contains { $0.severity == .error } }

    /// The one classification (docs/cli.md "verify", Specs/segment-format.md):
    /// an error is acknowledged data lost or altered, or damage to a file the
    /// engine cannot rebuild (WAL, segments, archives, snapshots, ledger.meta);
    /// a warning is damage to a derived file that the next read-write open
    /// rebuilds from the log (the balance index, a month index; an account
    /// copy, which the next copy build replaces once deleted), a torn tail
    /// that was never acknowledged, or work left for the next run (an
    /// interrupted archival, unfiled events after a crash). These kinds are
    /// always warnings; every other kind is an error.
    public static let warningKinds: Set<String> = [
        "torn tail", "index unusable", "index account count", "slot checksum", "balance mismatch", "index missing",
        "index differs from the segment", "watchdog skipped", "archival or restore interrupted", "state rebuilt from segments",
        "segments checked alone", "account copy damaged", "account copy of an archived month",
    ]

    /// Applies `warningKinds` ("segments behind the log" is a warning only
    /// when the log did not end with a clean close; it says so itself).
    mutating func classify() {
        for i in problems.indices where Self.warningKinds.contains(problems[i].kind) { problems[i].severity = .warning }
    }
}

/// What `verify` is doing, for a progress display: `phase` is "snapshots",
/// "WAL" (files), "segments" (months) or "index" (slots); the WAL and the
/// segments are checked at the same time, the months several at once
/// (their progress counts months done, in any order).
public struct VerifyProgress: Sendable {
    public var phase: String
    public var done: Int
    public var total: Int
}
