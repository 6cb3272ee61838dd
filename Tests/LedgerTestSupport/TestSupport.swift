import BenchmarkSupport
import Foundation
import LedgerEngine

/// The tests' seedable generator (SplitMix64, shared with the benchmarks).
public typealias SeededRandom = SplitMix64

/// Seeds for randomized tests: LEDGER_TEST_SEED replays one; otherwise a fixed
/// list so `make test` is deterministic.
public func testSeeds(_ count: Int) -> [UInt64] {
    if let text = ProcessInfo.processInfo.environment["LEDGER_TEST_SEED"], let seed = UInt64(text) { return [seed] }
    return (1...UInt64(count)).map { $0 &* 0x1000_0001 }
}

/// A fresh path under the system's temporary directory for one test. It
/// and the files named after it (`PATH-archive`, `PATH-standby.log`, …) are
/// removed when the test process exits, so `make test` leaves nothing
/// behind; `LEDGER_KEEP_TEST_DIRS=1` keeps them to look at after a failure.
public func temporaryDirectory(_ name: String = #function) -> String {
    let base = FileManager.default.temporaryDirectory.path
    let clean = name.filter { $0.isLetter || $0.isNumber }
    let path = "\(base)/ledger-test-\(clean)-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.removeItem(atPath: path)
    TemporaryDirectories.shared.add(path)
    return path
}

/// The paths `temporaryDirectory` gave out, removed at exit.
final class TemporaryDirectories: @unchecked Sendable {
    static let shared = TemporaryDirectories()
    private let lock = NSLock()
    private var paths: [String] = []
    private var registered = false

    func add(_ path: String) {
        lock.lock()
        defer { lock.unlock() }
        paths.append(path)
        guard !registered, ProcessInfo.processInfo.environment["LEDGER_KEEP_TEST_DIRS"] != "1" else { return }
        registered = true
        atexit { TemporaryDirectories.shared.removeAll() }
    }

    /// Each path, and each sibling named after it followed by `-` or `.`
    /// (the random suffix keeps another test's paths out of that).
    func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        let files = FileManager.default
        for path in paths {
            let url = URL(fileURLWithPath: path)
            let name = url.lastPathComponent
            let parent = url.deletingLastPathComponent().path
            for entry in (try? files.contentsOfDirectory(atPath: parent)) ?? []
            where entry == name || entry.hasPrefix(name + "-") || entry.hasPrefix(name + ".") {
                try? files.removeItem(atPath: parent + "/" + entry)
            }
        }
        paths.removeAll()
    }
}

public func usd(_ id: UInt128, flags: AccountFlags = []) -> Event {
    .createAccount(NewAccount(id: id, ledger: 840, code: 1, flags: flags))
}

public func transfer(_ id: UInt128, from debit: UInt128, to credit: UInt128, _ amount: UInt128, kind: EntryKind = .posted, timeout: UInt32 = 0) -> Event {
    .createEntry(NewEntry(id: id, kind: kind, postings: [.debit(debit, amount), .credit(credit, amount)], timeoutSeconds: timeout))
}

/// Lines an engine logs (`Ledger.Options.log`), collected across threads.
public final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    public init() {}
    public func append(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }
    public var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}
