// Test-only crash points: a real process SIGKILLs itself at a named point,
// so kill tests land exactly inside sealing, snapshotting or archival
// instead of wherever random timing happens to fall (the failpoint idea of
// FoundationDB's and TiKV's simulation tests, reduced to "die here").
//
// `LEDGER_CRASH_AT=<name>:<n>` kills the process the n-th time `name` is
// reached. Unset (production), `reached` costs one load of a constant.
import Glibc

public enum CrashPoints {
    private static let target: (name: String, count: Int)? = {
        guard let raw = getenv("LEDGER_CRASH_AT") else { return nil }
        let parts = String(cString: raw).split(separator: ":")
        guard parts.count == 2, let count = Int(parts[1]), count >= 1 else { return nil }
        return (String(parts[0]), count)
    }()
    private static let lock = ConditionLock()
    nonisolated(unsafe) private static var hits = 0

    /// Every point, for the kill tests to choose from.
    public static let sealing = ["seal.recordWritten", "seal.synced", "seal.indexTemporaryWritten", "seal.indexRenamed"]
    public static let snapshotting = ["snapshot.written", "snapshot.renamed", "snapshot.pruned", "compaction.walFileDeleted"]
    public static let archival = [
        "archive.framesWritten", "archive.renamed", "archive.compared", "archive.segmentRemoved",
        "restore.segmentWritten", "restore.renamed", "restore.archiveRemoved",
    ]

    @inline(__always)
    public static func reached(_ name: String) {
        guard let target else { return }
        guard target.name == name else { return }
        let hit = lock.withLock {
            hits += 1
            return hits
        }
        if hit == target.count { kill(getpid(), SIGKILL) }
    }
}
