import Foundation
import LedgerEngine

/// A `Storage` that passes everything to `inner`, except that the `sync` of
/// a file whose path `gated` accepts waits until the gate opens (outside the
/// inner storage's lock: every other call goes on meanwhile). For tests of
/// work that must not wait for a slow write.
public final class GatedStorage: Storage, @unchecked Sendable {
    public let inner: any Storage
    private let gated: @Sendable (String) -> Bool
    private let condition = NSCondition()
    private var open = false
    private var waiting: [String] = []

    public init(_ inner: any Storage, gating gated: @escaping @Sendable (String) -> Bool) {
        self.inner = inner
        self.gated = gated
    }

    /// Paths whose sync is waiting at the gate now.
    public var waitingPaths: [String] { condition.withLock { waiting } }

    /// Lets every waiting and later sync through.
    public func openGate() {
        condition.withLock {
            open = true
            condition.broadcast()
        }
    }

    /// Waits (up to `seconds`) until a sync is held at the gate.
    public func awaitHeldSync(seconds: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        return condition.withLock {
            while waiting.isEmpty && !open { if !condition.wait(until: deadline) { return false } }
            return !waiting.isEmpty
        }
    }

    func pass(_ path: String) {
        guard gated(path) else { return }
        condition.withLock {
            waiting.append(path)
            condition.broadcast()
            while !open { condition.wait() }
            waiting.removeAll { $0 == path }
        }
    }

    public func openFile(_ path: String, create: Bool) throws -> any StorageFile {
        GatedFile(try inner.openFile(path, create: create), gate: self)
    }
    public func fileExists(_ path: String) -> Bool { inner.fileExists(path) }
    public func listDirectory(_ path: String) throws -> [String] { try inner.listDirectory(path) }
    public func makeDirectory(_ path: String) throws { try inner.makeDirectory(path) }
    public func rename(_ from: String, to: String) throws { try inner.rename(from, to: to) }
    public func removeFile(_ path: String) throws { try inner.removeFile(path) }
    public func syncDirectory(_ path: String) throws { try inner.syncDirectory(path) }
    public func lockFile(_ path: String) throws -> any StorageLock { try inner.lockFile(path) }
    public func openFileForReading(_ path: String) throws -> any ReadableFile { try inner.openFileForReading(path) }
    public func lockFileShared(_ path: String) throws -> any StorageLock { try inner.lockFileShared(path) }
}

final class GatedFile: StorageFile {
    let file: any StorageFile
    let gate: GatedStorage
    init(_ file: any StorageFile, gate: GatedStorage) {
        self.file = file
        self.gate = gate
    }
    var path: String { file.path }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int { try file.read(into: buffer, at: offset) }
    func size() throws -> Int { try file.size() }
    func close() { file.close() }
    func adviseWillNeed(offset: Int, count: Int) { file.adviseWillNeed(offset: offset, count: count) }
    func mapForReading(count: Int) throws -> (any ReadOnlyMapping)? { try file.mapForReading(count: count) }
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws { try file.write(bytes, at: offset) }
    func sync() throws {
        gate.pass(file.path)
        try file.sync()
    }
    func startWriteBack(offset: Int, count: Int) { file.startWriteBack(offset: offset, count: count) }
    func truncate(toSize size: Int) throws { try file.truncate(toSize: size) }
    func map(size: Int) throws -> any StorageMapping { try file.map(size: size) }
}
