import LedgerEngine

// Changes to the keys file, crash-safe and one at a time: an exclusive lock
// on `<file>.lock`, read, change, then `<file>.tmp` (mode 0600, fdatasync),
// rename over the file, fsync of its directory. A crash leaves the old
// file or the new one, never a mix; a refused change writes nothing.
#if canImport(Glibc)
    import Glibc
#endif

public enum KeysFileEditor {
    /// Runs `change` on the file's entries (none when it does not exist and
    /// `create`) and writes the result if `change` returns without throwing.
    public static func edit<T>(path: String, create: Bool, _ change: (inout [KeyEntry]) throws -> T) throws -> T {
        let storage = POSIXStorage()
        let lock = try storage.lockFile(path + ".lock")
        defer { lock.release() }
        var entries: [KeyEntry] = []
        if storage.fileExists(path) {
            entries = try read(path: path)
        } else if !create {
            throw LedgerError(.invalidInput, "no API keys file", path: path)
        }
        let result = try change(&entries)
        try write(entries, to: path, storage: storage)
        return result
    }

    public static func read(path: String) throws -> [KeyEntry] {
        let file = try POSIXStorage().openFileForReading(path)
        defer { file.close() }
        let bytes = try file.readExactly(try file.size(), at: 0)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw LedgerError(.invalidInput, "not UTF-8", path: path) }
        return try KeysFile.parse(text, path: path)
    }

    private static func write(_ entries: [KeyEntry], to path: String, storage: POSIXStorage) throws {
        let temporary = path + ".tmp"
        if storage.fileExists(temporary) { try storage.removeFile(temporary) }
        let file = try storage.openFile(temporary, create: true)
        defer { file.close() }
        // Salted hashes only, but still nobody else's to read.
        guard chmod(temporary, 0o600) == 0 else { throw LedgerError(.io, "chmod 0600 failed: errno \(errno)", path: temporary) }
        try file.write(Array(KeysFile.text(entries).utf8), at: 0)
        try file.sync()
        try storage.rename(temporary, to: path)
        let slash = path.lastIndex(of: "/")
        try storage.syncDirectory(slash.map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? ".")
    }
}
