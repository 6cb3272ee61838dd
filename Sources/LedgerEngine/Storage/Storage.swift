// The one narrow interface through which the engine touches files.
//
// Everything durable goes through `Storage`, `StorageFile` and
// `StorageMapping`, so that tests can substitute a simulated disk that loses
// unsynced writes, tears writes, flips bits and fails syncs (see
// Tests/LedgerEngineTests/SimulatedStorage.swift). `POSIXStorage` is the real
// implementation.
//
// Contract:
// - `write` writes all bytes or throws (`noSpace` for ENOSPC, `io` otherwise).
// - `sync` is fdatasync; `syncDirectory` is fsync of a directory. A failure of
//   either throws `syncFailed`, after which the caller must stop (crash-stop):
//   the kernel may already have dropped the dirty pages, so a retry could
//   "succeed" over lost data (fsyncgate).
// - `read` returns fewer bytes than asked only at the end of the file.
public protocol Storage: Sendable {
    func openFile(_ path: String, create: Bool) throws -> any StorageFile
    func fileExists(_ path: String) -> Bool
    /// Names (not paths) of the entries in a directory, sorted.
    func listDirectory(_ path: String) throws -> [String]
    func makeDirectory(_ path: String) throws
    func rename(_ from: String, to: String) throws
    func removeFile(_ path: String) throws
    func syncDirectory(_ path: String) throws
    /// Takes an exclusive, non-blocking lock on `path` (a file); held until
    /// `release` or process exit. Throws `locked` if another holder exists.
    func lockFile(_ path: String) throws -> any StorageLock
    /// Opens an existing file for reading only (works on a read-only mount).
    func openFileForReading(_ path: String) throws -> any ReadableFile
    /// A shared, non-blocking lock on `path` for readers: it never creates
    /// the file (no LOCK appears in a directory that is read), excludes only
    /// an exclusive holder (`locked`), and is a no-op when the file does not
    /// exist (no process has ever written the directory through this path).
    func lockFileShared(_ path: String) throws -> any StorageLock
}

extension Storage {
    /// Simulated disks have no read-only mounts: reading opens the file as usual.
    public func openFileForReading(_ path: String) throws -> any ReadableFile { try openFile(path, create: false) }
    /// Simulated disks serve one engine at a time: a shared lock is the exclusive one.
    public func lockFileShared(_ path: String) throws -> any StorageLock { try lockFile(path) }

    /// Replaces a small file whole, crash-safely: `<path>.tmp` (a leftover
    /// removed first), fdatasync, rename over `path`, fsync of `directory`.
    public func replaceFile(_ path: String, with bytes: [UInt8], directory: String) throws {
        let temporary = DataDirectoryLayout.temporaryPath(for: path)
        if fileExists(temporary) { try removeFile(temporary) }
        let file = try openFile(temporary, create: true)
        defer { file.close() }
        try file.write(bytes, at: 0)
        try file.sync()
        try rename(temporary, to: path)
        try syncDirectory(directory)
    }
}

/// Random-access reads: a file on disk, or an archived segment presented
/// as the segment it compresses (ArchivedSegmentFile).
public protocol ReadableFile: AnyObject {
    var path: String { get }
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int
    func size() throws -> Int
    func close()
    /// A hint that `[offset, offset + count)` will be read soon, so the
    /// kernel can start reading it now (posix_fadvise WILLNEED). Never
    /// required for correctness; the default does nothing.
    func adviseWillNeed(offset: Int, count: Int)
    /// `[0, count)` mapped read-only and private, or nil where files are
    /// not mapped (the tests' simulated disk, archives): the caller reads
    /// instead. For one pass over a whole file that nobody shortens
    /// meanwhile (the data directory's lock holds writers off). An I/O
    /// error under a mapping arrives as SIGBUS, not as an error: only the
    /// open path and the account-copy builder (after reading the segment
    /// through once with pread) use it (STORAGE-PRACTICE: SIGBUS means
    /// crash; `ledgerctl verify` reads with pread and names the file).
    func mapForReading(count: Int) throws -> (any ReadOnlyMapping)?
}

extension ReadableFile {
    public func adviseWillNeed(offset: Int, count: Int) {}
    public func mapForReading(count: Int) throws -> (any ReadOnlyMapping)? { nil }
}

public protocol ReadOnlyMapping: AnyObject {
    var bytes: UnsafeRawBufferPointer { get }
    func unmap()
    /// Drops the process's page-table entries for the mapping (madvise
    /// DONTNEED): the pages stay in the page cache and the next read
    /// faults them back; the process no longer counts them as resident.
    func releaseResidentPages()
}

extension ReadOnlyMapping {
    public func releaseResidentPages() {}
}

public protocol StorageFile: ReadableFile {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws
    func sync() throws
    /// A hint for a large file written once: starts the write-back of
    /// `[offset, offset + count)` without waiting and without a device
    /// flush, and drops the range's pages that are clean already from the
    /// page cache (posix_fadvise DONTNEED). Never makes anything durable
    /// (`sync` does); the default does nothing.
    func startWriteBack(offset: Int, count: Int)
    func truncate(toSize size: Int) throws
    /// Maps `[0, size)` shared and writable. The file must already be that
    /// large (a hole under a mapping turns ENOSPC into SIGBUS).
    func map(size: Int) throws -> any StorageMapping
}

public protocol StorageMapping: AnyObject {
    var bytes: UnsafeMutableRawBufferPointer { get }
    /// msync(MS_SYNC) of `[offset, offset + count)`; throws `syncFailed`.
    func sync(offset: Int, count: Int) throws
    func unmap()
}

public protocol StorageLock: AnyObject {
    func release()
}

extension ReadableFile {
    /// Calls `body` with the file's first `count` bytes: mapped when
    /// `mapped` and the file can be (a whole-file buffer would take as many
    /// fresh pages, 3 µs each on this VM: Benchmarks/RESULTS.md, issue 13,
    /// session 12), else read into memory; `corruption` when shorter.
    public func withContents<T>(_ count: Int, mapped: Bool, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        // Mapped only over bytes the file has: beyond its end a mapping
        // faults with SIGBUS where a read returns short.
        if mapped, count > 0, try size() >= count, let mapping = try mapForReading(count: count) {
            defer { mapping.unmap() }
            return try body(mapping.bytes)
        }
        return try readExactly(count, at: 0).withUnsafeBytes { try body($0) }
    }

    /// Reads exactly `count` bytes at `offset` into a new array, or throws
    /// `corruption` naming the file when it is shorter.
    public func readExactly(_ count: Int, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        guard got == count else {
            throw LedgerError(.corruption, "file ends after \(offset + got) bytes; expected at least \(offset + count)", path: path, offset: offset + got)
        }
        return bytes
    }
}

extension StorageFile {
    public func startWriteBack(offset: Int, count: Int) {}

    public func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Writes zeros over `[offset, offset + count)` in 1 MiB chunks.
    public func writeZeros(at offset: Int, count: Int) throws {
        let chunkBytes = 1 << 20
        let zeros = [UInt8](repeating: 0, count: min(chunkBytes, max(count, 0)))
        var done = 0
        while done < count {
            let n = min(chunkBytes, count - done)
            try zeros.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: offset + done) }
            done += n
        }
    }
}
