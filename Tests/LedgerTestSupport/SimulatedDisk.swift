import Foundation
import LedgerEngine

/// A deterministic, fault-injecting `Storage`.
///
/// Each file (inode) has `current` bytes (what reads see: the page cache) and
/// `durable` bytes (what survives a crash). Writes since the last sync are
/// remembered; `crash` keeps, for each of them, a seeded random subset of its
/// 512-byte sectors (torn writes, lost writes, reordering), or none
/// (`.dropUnsynced`). Directory entries are volatile until `syncDirectory`.
/// Mapped pages may be written back at any time: a crash persists a random
/// subset of dirty mapped pages. After a crash, every handle from before it
/// fails, so the old engine stops.
public final class SimulatedDisk: Storage, @unchecked Sendable {
    public enum CrashMode { case dropUnsynced, tornUnsynced }

    public final class Inode {
        public var current: [UInt8] = []
        public var durable: [UInt8] = []
        public var unsynced: [(offset: Int, count: Int)] = []
        public var mapping: SimulatedMapping?
    }

    public let lock = NSLock()
    public var rng: SeededRandom
    public var generation = 0
    public var currentNames: [String: Inode] = [:]
    public var durableNames: [String: Inode] = [:]
    public var directories: Set<String> = []
    public var heldLocks: Set<String> = []

    // Faults.
    public var failSync: ((String) -> Bool)?
    public var noSpace: ((String) -> Bool)?
    public var readFlips: [String: Set<Int>] = [:]  // path → byte offsets whose bit 0 flips on read
    public var crashAtOperation: Int?
    public var operations = 0
    public var crashMode: CrashMode = .tornUnsynced
    public var syncCalls: [String: Int] = [:]
    /// A read-only mount: every call that could change the disk throws (and
    /// counts in `writeAttempts`); reads and shared locks work.
    public var readOnly = false
    public var writeAttempts: [String] = []

    func refuseIfReadOnly(_ what: String, _ path: String) throws {
        guard readOnly else { return }
        writeAttempts.append("\(what) \(path)")
        throw LedgerError(.io, "simulated read-only file system: \(what)", path: path, errno: 30)
    }

    public init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    /// An independent copy of the files as they are now (current and durable
    /// contents, names, directories), with no locks held and no faults set.
    public func clone(seed: UInt64) -> SimulatedDisk {
        locked {
            let copy = SimulatedDisk(seed: seed)
            var copies: [ObjectIdentifier: Inode] = [:]
            func copied(_ inode: Inode) -> Inode {
                if let done = copies[ObjectIdentifier(inode)] { return done }
                let new = Inode()
                new.current = inode.current
                new.durable = inode.durable
                new.unsynced = inode.unsynced
                copies[ObjectIdentifier(inode)] = new
                return new
            }
            copy.currentNames = currentNames.mapValues(copied)
            copy.durableNames = durableNames.mapValues(copied)
            copy.directories = directories
            return copy
        }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Counts an operation; crashes the disk when the injected point is reached.
    /// Throws for handles from before a crash.
    public func step(_ handleGeneration: Int, _ path: String) throws {
        guard handleGeneration == generation else { throw LedgerError(.io, "simulated disk: handle from before a crash", path: path) }
        operations += 1
        if let at = crashAtOperation, operations >= at {
            crashAtOperation = nil
            crashLocked(mode: crashMode)
            throw LedgerError(.io, "simulated disk: crashed", path: path)
        }
    }

    // MARK: Storage

    public func openFile(_ path: String, create: Bool) throws -> any StorageFile {
        try locked {
            try refuseIfReadOnly("open for writing", path)
            try step(generation, path)
            if currentNames[path] == nil {
                guard create else { throw LedgerError(.notInitialized, "no such file", path: path) }
                currentNames[path] = Inode()
            }
            return SimulatedFile(disk: self, inode: currentNames[path]!, path: path, generation: generation)
        }
    }

    public func openFileForReading(_ path: String) throws -> any ReadableFile {
        try locked {
            try step(generation, path)
            guard let inode = currentNames[path] else { throw LedgerError(.notInitialized, "no such file", path: path) }
            return SimulatedFile(disk: self, inode: inode, path: path, generation: generation)
        }
    }

    public func lockFileShared(_ path: String) throws -> any StorageLock {
        try locked {
            guard !heldLocks.contains(path) else { throw LedgerError(.locked, "simulated lock held", path: path) }
            return SimulatedSharedLock()
        }
    }

    public func fileExists(_ path: String) -> Bool { locked { currentNames[path] != nil || directories.contains(path) } }

    public func listDirectory(_ path: String) throws -> [String] {
        locked {
            currentNames.keys.filter { ($0 as NSString).deletingLastPathComponent == path }.map { ($0 as NSString).lastPathComponent }.sorted()
        }
    }

    public func makeDirectory(_ path: String) throws {
        try locked {
            try refuseIfReadOnly("mkdir", path)
            _ = directories.insert(path)
        }
    }

    public func rename(_ from: String, to: String) throws {
        try locked {
            try refuseIfReadOnly("rename", from)
            try step(generation, from)
            guard let inode = currentNames.removeValue(forKey: from) else { throw LedgerError(.io, "rename: no such file", path: from) }
            currentNames[to] = inode
        }
    }

    public func removeFile(_ path: String) throws {
        try locked {
            try refuseIfReadOnly("unlink", path)
            try step(generation, path)
            currentNames[path] = nil
        }
    }

    public func syncDirectory(_ path: String) throws {
        try locked {
            try refuseIfReadOnly("fsync directory", path)
            try step(generation, path)
            if failSync?(path) == true { throw LedgerError(.syncFailed, "simulated EIO on directory fsync", path: path) }
            for name in durableNames.keys where (name as NSString).deletingLastPathComponent == path { durableNames[name] = nil }
            for (name, inode) in currentNames where (name as NSString).deletingLastPathComponent == path { durableNames[name] = inode }
        }
    }

    public func lockFile(_ path: String) throws -> any StorageLock {
        try locked {
            try refuseIfReadOnly("exclusive lock (creates LOCK)", path)
            guard !heldLocks.contains(path) else { throw LedgerError(.locked, "simulated lock held", path: path) }
            heldLocks.insert(path)
            return SimulatedLock(disk: self, path: path, generation: generation)
        }
    }

    // MARK: Faults and crashes

    public func crash(mode: CrashMode = .tornUnsynced) { locked { crashLocked(mode: mode) } }

    private func crashLocked(mode: CrashMode) {
        var seen = Set<ObjectIdentifier>()
        for inode in Array(currentNames.values) + Array(durableNames.values) where seen.insert(ObjectIdentifier(inode)).inserted {
            if let mapping = inode.mapping {
                // The kernel may have written back any dirty mapped page.
                let pages = (mapping.bytes.count + 4095) / 4096
                for page in 0..<pages where mode == .tornUnsynced && Bool.random(using: &rng) {
                    let start = page * 4096
                    let end = min(mapping.bytes.count, start + 4096)
                    ensure(&inode.durable, end)
                    Self.copy(UnsafeRawBufferPointer(mapping.bytes), into: &inode.durable, start..<end)
                }
                mapping.detach()
                inode.mapping = nil
            }
            if mode == .tornUnsynced {
                for write in inode.unsynced {
                    var sector = write.offset / 512 * 512
                    while sector < write.offset + write.count {
                        if Bool.random(using: &rng) {
                            let start = max(sector, write.offset)
                            let end = min(sector + 512, write.offset + write.count, inode.current.count)
                            if start < end {
                                ensure(&inode.durable, end)
                                inode.current.withUnsafeBytes { Self.copy($0, into: &inode.durable, start..<end) }
                            }
                        }
                        sector += 512
                    }
                }
            }
            inode.unsynced.removeAll()
            inode.current = inode.durable
        }
        currentNames = durableNames
        heldLocks.removeAll()
        generation += 1
    }

    public func ensure(_ bytes: inout [UInt8], _ count: Int) {
        if bytes.count < count { bytes += [UInt8](repeating: 0, count: count - bytes.count) }
    }

    /// Copies `source[range]` over `destination[range]` (bulk: per-byte loops
    /// made the simulation several times slower in debug builds).
    static func copy(_ source: UnsafeRawBufferPointer, into destination: inout [UInt8], _ range: Range<Int>) {
        precondition(range.upperBound <= source.count && range.upperBound <= destination.count, "copy of \(range)")
        destination.withUnsafeMutableBytes { target in
            UnsafeMutableRawBufferPointer(rebasing: target[range]).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[range]))
        }
    }

    /// Flips one bit of a file's bytes on disk (durable and cached).
    public func corrupt(_ path: String, at offset: Int) {
        locked {
            let inode = currentNames[path]!
            inode.current[offset] ^= 0x10
            if offset < inode.durable.count { inode.durable[offset] ^= 0x10 }
            if let mapping = inode.mapping { mapping.bytes[offset] ^= 0x10 }
        }
    }

    public func names() -> [String] { locked { currentNames.keys.sorted() } }
    public func bytes(_ path: String) -> [UInt8] { locked { currentNames[path]!.current } }
}

public final class SimulatedLock: StorageLock {
    public let disk: SimulatedDisk
    public let path: String
    public let generation: Int
    public init(disk: SimulatedDisk, path: String, generation: Int) {
        self.disk = disk
        self.path = path
        self.generation = generation
    }
    public func release() {
        disk.lock.lock()
        if generation == disk.generation { disk.heldLocks.remove(path) }
        disk.lock.unlock()
    }
}

public final class SimulatedFile: StorageFile {
    public let disk: SimulatedDisk
    public let inode: SimulatedDisk.Inode
    public let path: String
    public let generation: Int

    public init(disk: SimulatedDisk, inode: SimulatedDisk.Inode, path: String, generation: Int) {
        self.disk = disk
        self.inode = inode
        self.path = path
        self.generation = generation
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        disk.lock.lock()
        defer { disk.lock.unlock() }
        return try body()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        try locked {
            try disk.step(generation, path)
            let end = min(inode.current.count, offset + buffer.count)
            guard offset < end else { return 0 }
            // Bulk copy, then the flips (a per-byte loop made the fuzz
            // targets, which run everything instrumented, 5x slower).
            inode.current.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<end]))
            }
            for i in disk.readFlips[path] ?? [] where i >= offset && i < end { buffer[i - offset] ^= 1 }
            return end - offset
        }
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        try locked {
            try disk.refuseIfReadOnly("write", path)
            try disk.step(generation, path)
            if disk.noSpace?(path) == true { throw LedgerError(.noSpace, "simulated ENOSPC", path: path, offset: offset) }
            disk.ensure(&inode.current, offset + bytes.count)
            inode.current.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            inode.unsynced.append((offset, bytes.count))
        }
    }

    public func sync() throws {
        try locked {
            try disk.step(generation, path)
            disk.syncCalls[path, default: 0] += 1
            if disk.failSync?(path) == true {
                // As on Linux ext4/XFS after a failed write-back: pages are
                // marked clean, the data is gone from the durable state.
                inode.unsynced.removeAll()
                throw LedgerError(.syncFailed, "simulated EIO on fdatasync", path: path)
            }
            inode.durable = inode.current
            inode.unsynced.removeAll()
        }
    }

    public func truncate(toSize size: Int) throws {
        try locked {
            try disk.refuseIfReadOnly("truncate", path)
            try disk.step(generation, path)
            if inode.current.count > size { inode.current.removeLast(inode.current.count - size) } else { disk.ensure(&inode.current, size) }
            inode.unsynced.append((0, 0))
        }
    }

    public func size() throws -> Int {
        try locked {
            try disk.step(generation, path)
            return inode.current.count
        }
    }

    public func map(size: Int) throws -> any StorageMapping {
        try locked {
            try disk.refuseIfReadOnly("map writable", path)
            try disk.step(generation, path)
            precondition(inode.current.count >= size, "mapping beyond the end of \(path)")
            let mapping = SimulatedMapping(disk: disk, inode: inode, path: path, count: size, generation: generation)
            inode.mapping = mapping
            return mapping
        }
    }

    public func close() {}
}

public final class SimulatedMapping: StorageMapping {
    public let disk: SimulatedDisk
    public weak var inode: SimulatedDisk.Inode?
    public let path: String
    public let generation: Int
    public let bytes: UnsafeMutableRawBufferPointer
    private var attached = true

    public init(disk: SimulatedDisk, inode: SimulatedDisk.Inode, path: String, count: Int, generation: Int) {
        self.disk = disk
        self.inode = inode
        self.path = path
        self.generation = generation
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 4096)
        inode.current.withUnsafeBytes { bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
    }

    /// Called by a crash: the engine may keep writing into the buffer, but it
    /// no longer reaches the file.
    public func detach() { attached = false }

    public func sync(offset: Int, count: Int) throws {
        disk.lock.lock()
        defer { disk.lock.unlock() }
        try disk.step(generation, path)
        guard attached, let inode else { return }
        if disk.failSync?(path) == true { throw LedgerError(.syncFailed, "simulated EIO on msync", path: path) }
        let start = offset / 4096 * 4096
        let end = min(bytes.count, offset + count)
        disk.ensure(&inode.durable, end)
        SimulatedDisk.copy(UnsafeRawBufferPointer(bytes), into: &inode.current, start..<end)
        SimulatedDisk.copy(UnsafeRawBufferPointer(bytes), into: &inode.durable, start..<end)
    }

    public func unmap() {
        disk.lock.lock()
        defer { disk.lock.unlock() }
        if attached, let inode, generation == disk.generation {
            // Dirty pages stay in the page cache, not yet durable.
            SimulatedDisk.copy(UnsafeRawBufferPointer(bytes), into: &inode.current, 0..<bytes.count)
            inode.unsynced.append((0, bytes.count))
            inode.mapping = nil
        }
        attached = false
    }

    deinit { bytes.deallocate() }
}

/// A shared lock on the simulated disk: excludes nothing (readers only
/// check that no engine holds the exclusive one).
public final class SimulatedSharedLock: StorageLock {
    public init() {}
    public func release() {}
}
