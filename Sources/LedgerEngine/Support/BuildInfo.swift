// What a binary is: its release and the on-disk format versions it writes
// (each format's spec in Specs/ says when its version changes). Printed by
// every binary's `--version` and exported as `ledger_build_info`.
public enum BuildInfo {
    /// The release, bumped when one is tagged (semantic versioning: a format
    /// or protocol change that old binaries refuse is a minor bump before
    /// 1.0, a major one after).
    public static let version = "0.13.0"

    /// Every format this build writes, by name (Specs/<name>-format.md and
    /// friends), in a stable order.
    public static let formats: [(name: String, version: UInt64)] = [
        ("wal", UInt64(WALFormat.version)), ("segment", UInt64(SegmentFormat.version)), ("month-index", UInt64(MonthIndexFormat.version)),
        ("archive", UInt64(ArchiveFormat.version)), ("account-copy", UInt64(AccountCopyFormat.version)),
        ("open-month-index", UInt64(OpenMonthIndexFormat.version)), ("snapshot", UInt64(SnapshotFormat.version)),
        ("balance-index", UInt64(BalanceIndexFormat.version)), ("ledger-meta", UInt64(DataDirectoryMeta.version)),
        ("timeline-history", UInt64(TimelineHistoryFile.version)), ("replication-slots", UInt64(ReplicationSlotsFile.version)),
    ]

    /// `<tool> <version>` and the formats, then the protocol versions the
    /// caller speaks (the engine does not know the wire protocol).
    public static func versionText(tool: String, protocolVersions: ClosedRange<UInt16>) -> String {
        let formats = Self.formats.map { "\($0.name) \($0.version)" }.joined(separator: ", ")
        return "\(tool) \(version)\nformats: \(formats)\nprotocol: \(protocolVersions.lowerBound)...\(protocolVersions.upperBound)"
    }
}
