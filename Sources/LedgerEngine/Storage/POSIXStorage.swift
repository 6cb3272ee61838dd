// The real `Storage`: thin wrappers over Linux syscalls. EINTR is retried here
// and nowhere else; sync failures are reported as `syncFailed` and never
// retried.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

public struct POSIXStorage: Storage {
    public init() {}

    public func openFile(_ path: String, create: Bool) throws -> any StorageFile {
        let flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0)
        let fd = retryingEINTR { open(path, flags, 0o644) }
        guard fd >= 0 else { throw Self.error(errno, "open", path: path) }
        return POSIXFile(fd: fd, path: path)
    }

    public func openFileForReading(_ path: String) throws -> any ReadableFile {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw Self.error(errno, "open", path: path) }
        return POSIXFile(fd: fd, path: path)
    }

    public func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw Self.error(errno, "opendir", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func makeDirectory(_ path: String) throws {
        guard mkdir(path, 0o755) == 0 else { throw Self.error(errno, "mkdir", path: path) }
    }

    public func rename(_ from: String, to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw Self.error(errno, "rename to \(to)", path: from) }
    }

    public func removeFile(_ path: String) throws {
        guard unlink(path) == 0 else { throw Self.error(errno, "unlink", path: path) }
    }

    public func syncDirectory(_ path: String) throws {
        let fd = retryingEINTR { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw Self.error(errno, "open directory", path: path) }
        defer { Glibc.close(fd) }
        guard fsync(fd) == 0 else {
            throw LedgerError(.syncFailed, "fsync of directory failed", path: path, errno: errno)
        }
    }

    public func lockFile(_ path: String) throws -> any StorageLock {
        let fd = retryingEINTR { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw Self.error(errno, "open lock file", path: path) }
        return try Self.lock(fd, LOCK_EX, path: path)
    }

    /// The server, holding the lock, writes its pid into the lock file for
    /// `ledgerctl promote` to signal. Informational: the flock is the lock
    /// (a flock belongs to its own open file, which this does not close),
    /// and nothing depends on these bytes surviving a crash.
    public static func recordLockHolderPID(_ path: String) {
        let fd = retryingEINTR { open(path, O_WRONLY | O_CLOEXEC) }
        guard fd >= 0 else { return }
        defer { Glibc.close(fd) }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
    }

    /// The pid the holder of an exclusive lock wrote into `path` (nil when
    /// unreadable).
    public static func lockHolderPID(_ path: String) -> Int32? {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 1, bytes[count - 1] == 0x0A else { return nil }
        return Int32(String(decoding: bytes[0..<(count - 1)], as: UTF8.self))
    }

    public func lockFileShared(_ path: String) throws -> any StorageLock {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 {
            guard errno == ENOENT else { throw Self.error(errno, "open lock file", path: path) }
            return POSIXLock(fd: -1)
        }
        return try Self.lock(fd, LOCK_SH, path: path)
    }

    /// flock(`mode` | LOCK_NB) on `fd`, which it closes on failure.
    private static func lock(_ fd: Int32, _ mode: Int32, path: String) throws -> POSIXLock {
        if flock(fd, mode | LOCK_NB) != 0 {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK {
                throw LedgerError(.locked, "the data directory is in use by another process (server or ledgerctl); stop it first", path: path)
            }
            throw error(code, "flock", path: path)
        }
        return POSIXLock(fd: fd)
    }

    static func error(_ code: Int32, _ operation: String, path: String, offset: Int? = nil) -> LedgerError {
        let reason = String(cString: strerror(code))
        if code == ENOSPC { return LedgerError(.noSpace, "\(operation): \(reason)", path: path, offset: offset, errno: code) }
        if code == ENOENT { return LedgerError(.notInitialized, "\(operation): \(reason)", path: path, offset: offset, errno: code) }
        return LedgerError(.io, "\(operation): \(reason)", path: path, offset: offset, errno: code)
    }
}

@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

final class POSIXLock: StorageLock {
    private var fd: Int32
    init(fd: Int32) { self.fd = fd }
    func release() {
        if fd >= 0 {
            // Unlock before closing: a child forked meanwhile (Process, by any
            // thread) holds a copy of this descriptor until its exec, and a
            // flock lives as long as any copy does; LOCK_UN ends it at once.
            _ = flock(fd, LOCK_UN)
            Glibc.close(fd)
            fd = -1
        }
    }
    deinit { release() }
}

final class POSIXFile: StorageFile {
    let fd: Int32
    let path: String
    private var closed = false

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close() }

    func adviseWillNeed(offset: Int, count: Int) {
        _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_WILLNEED)  // a hint: its failure changes nothing
    }

    /// Linux starts write-back of the range's dirty pages (WB_SYNC_NONE)
    /// and drops its clean ones; a hint: its failure changes nothing.
    func startWriteBack(offset: Int, count: Int) {
        _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_DONTNEED)
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = retryingEINTR { pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) }
            if n < 0 { throw POSIXStorage.error(errno, "pread", path: path, offset: offset + done) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = retryingEINTR { pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 { throw POSIXStorage.error(errno, "pwrite", path: path, offset: offset + done) }
            done += n
        }
    }

    func sync() throws {
        guard fdatasync(fd) == 0 else {
            throw LedgerError(.syncFailed, "fdatasync failed; the engine stops and recovers on restart", path: path, errno: errno)
        }
    }

    func truncate(toSize size: Int) throws {
        guard retryingEINTR({ ftruncate(fd, off_t(size)) }) == 0 else {
            throw POSIXStorage.error(errno, "ftruncate", path: path)
        }
    }

    func size() throws -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw POSIXStorage.error(errno, "fstat", path: path) }
        return Int(info.st_size)
    }

    func map(size: Int) throws -> any StorageMapping {
        precondition(size > 0, "mapping of \(size) bytes")
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw POSIXStorage.error(errno, "mmap", path: path)
        }
        return POSIXMapping(base: base, count: size, path: path)
    }

    func mapForReading(count: Int) throws -> (any ReadOnlyMapping)? {
        precondition(count > 0, "mapping of \(count) bytes")
        guard let base = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw POSIXStorage.error(errno, "mmap", path: path)
        }
        return POSIXReadOnlyMapping(base: base, count: count)
    }

    func close() {
        if !closed {
            closed = true
            Glibc.close(fd)
        }
    }
}

/// A read-only private mapping (`mapForReading`).
final class POSIXReadOnlyMapping: ReadOnlyMapping {
    let bytes: UnsafeRawBufferPointer
    private var mapped = true

    init(base: UnsafeRawPointer, count: Int) { bytes = UnsafeRawBufferPointer(start: base, count: count) }

    deinit { unmap() }

    func unmap() {
        if mapped {
            mapped = false
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
        }
    }

    /// A read-only private mapping has no private pages: DONTNEED only
    /// unmaps page-cache pages, which the next read maps again. A hint:
    /// its failure changes nothing.
    func releaseResidentPages() {
        if mapped { _ = madvise(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count, MADV_DONTNEED) }
    }
}

final class POSIXMapping: StorageMapping {
    let bytes: UnsafeMutableRawBufferPointer
    let path: String
    private var mapped = true

    init(base: UnsafeMutableRawPointer, count: Int, path: String) {
        bytes = UnsafeMutableRawBufferPointer(start: base, count: count)
        self.path = path
    }

    deinit { unmap() }

    func sync(offset: Int, count: Int) throws {
        let pageBytes = 4096
        let start = offset & ~(pageBytes - 1)
        let end = min(bytes.count, offset + count)
        guard msync(bytes.baseAddress! + start, end - start, MS_SYNC) == 0 else {
            throw LedgerError(.syncFailed, "msync failed; the engine stops and rebuilds the index on restart", path: path, offset: start, errno: errno)
        }
    }

    func unmap() {
        if mapped {
            mapped = false
            munmap(bytes.baseAddress, bytes.count)
        }
    }
}
