// Replication slots (Specs/replication.md, "Replication slots"): what WAL a
// standby still needs, kept on the primary across restarts in
// `replication-slots`. One slot per replication key. This file holds the
// value, its file format (writer and reader side by side) and the
// compaction decision; Ledger+Snapshots.swift applies it before compacting.

public struct ReplicationSlot: Sendable, Equatable {
    public var keyID: String
    /// The last LSN the standby holds durably: WAL after it is kept.
    public var lsn: UInt64
    /// Passed `--max-slot-wal-keep-mib`: it keeps nothing any more.
    public var invalidated: Bool

    public init(keyID: String, lsn: UInt64, invalidated: Bool = false) {
        (self.keyID, self.lsn, self.invalidated) = (keyID, lsn, invalidated)
    }
}

public enum ReplicationSlotsFile {
    static let magic = Array("LDGRSLOT".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 16
    static let slotBytes = 88
    static let keyIDBytesMax = 64
    public static let slotsMax = 64

    public static func encode(_ slots: [ReplicationSlot]) -> [UInt8] {
        precondition(slots.count <= slotsMax, "\(slots.count) slots")
        var out = [UInt8](repeating: 0, count: headerBytes + slots.count * slotBytes + 4)
        out.withUnsafeMutableBytes { p in
            for (i, byte) in magic.enumerated() { p[i] = byte }
            _LE.put(p, 8, version)
            _LE.put(p, 12, UInt32(slots.count))
            for (i, slot) in slots.enumerated() {
                let at = headerBytes + i * slotBytes
                let key = Array(slot.keyID.utf8)
                precondition((1...keyIDBytesMax).contains(key.count), "key id of \(key.count) bytes")
                _LE.put(p, at, slot.lsn)
                _LE.put(p, at + 8, UInt32(slot.invalidated ? 1 : 0))
                _LE.put(p, at + 12, UInt32(key.count))
                for (j, byte) in key.enumerated() { p[at + 16 + j] = byte }
            }
            let end = p.count - 4
            _LE.put(p, end, Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<end]))))
        }
        return out
    }

    public static func decode(_ bytes: [UInt8], path: String) throws -> [ReplicationSlot] {
        func corrupt(_ what: String, _ offset: Int = 0) -> LedgerError {
            LedgerError(.corruption, "replication slots file: \(what); investigate with `ledgerctl slots`", path: path, offset: offset)
        }
        guard bytes.count >= headerBytes + 4, Array(bytes[0..<8]) == magic else { throw corrupt("too short or bad magic") }
        return try bytes.withUnsafeBytes { p in
            guard _LE.u32(p, 8) == version else { throw LedgerError(.unsupportedVersion, "replication slots file version \(_LE.u32(p, 8))", path: path) }
            let count = Int(_LE.u32(p, 12))
            guard count <= slotsMax, bytes.count == headerBytes + count * slotBytes + 4 else { throw corrupt("\(count) slots in \(bytes.count) bytes") }
            guard Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: p[0..<(bytes.count - 4)]))) == _LE.u32(p, bytes.count - 4) else {
                throw corrupt("checksum mismatch", bytes.count - 4)
            }
            var slots: [ReplicationSlot] = []
            for i in 0..<count {
                let at = headerBytes + i * slotBytes
                let (flags, keyBytes) = (_LE.u32(p, at + 8), Int(_LE.u32(p, at + 12)))
                guard flags <= 1, (1...keyIDBytesMax).contains(keyBytes), p[(at + 16 + keyBytes)..<(at + slotBytes)].allSatisfy({ $0 == 0 }) else {
                    throw corrupt("slot \(i) malformed", at)
                }
                let key = String(decoding: p[(at + 16)..<(at + 16 + keyBytes)], as: UTF8.self)
                guard !slots.contains(where: { $0.keyID == key }) else { throw corrupt("slot '\(key)' twice", at) }
                slots.append(ReplicationSlot(keyID: key, lsn: _LE.u64(p, at), invalidated: flags == 1))
            }
            return slots
        }
    }

    /// The slots of a directory (none when the file does not exist).
    public static func read(storage: any Storage, layout: DataDirectoryLayout) throws -> [ReplicationSlot] {
        guard storage.fileExists(layout.replicationSlotsPath) else { return [] }
        let file = try storage.openFileForReading(layout.replicationSlotsPath)
        defer { file.close() }
        let size = try file.size()
        guard size <= headerBytes + slotsMax * slotBytes + 4 else {
            throw LedgerError(.corruption, "replication slots file of \(size) bytes", path: layout.replicationSlotsPath)
        }
        return try decode(try file.readExactly(size, at: 0), path: layout.replicationSlotsPath)
    }

    /// Replaces the file: tmp, fdatasync, rename, fsync of the directory.
    public static func write(_ slots: [ReplicationSlot], storage: any Storage, layout: DataDirectoryLayout) throws {
        try storage.replaceFile(layout.replicationSlotsPath, with: encode(slots), directory: layout.root)
    }
}

extension ReplicationSlot {
    /// The compaction decision: compaction would delete every WAL file whose
    /// records all have LSN ≤ `through`. Each valid slot lowers that to its
    /// LSN unless the files it keeps that way (`files`: first LSN and bytes,
    /// in order) pass `keepBytesMax`: then it is invalidated instead.
    /// Returns the new limit and the slots, some possibly invalidated.
    public static func compactionLimit(
        through: UInt64, slots: [ReplicationSlot], files: [(firstLSN: UInt64, bytes: Int)], keepBytesMax: Int
    ) -> (through: UInt64, slots: [ReplicationSlot]) {
        var limit = through
        var updated = slots
        for i in updated.indices where !updated[i].invalidated && updated[i].lsn < through {
            let lsn = updated[i].lsn
            // Files deletable under `through` that hold records after the slot's LSN.
            var kept = 0
            for j in 0..<max(0, files.count - 1) where files[j + 1].firstLSN - 1 <= through && files[j + 1].firstLSN - 1 > lsn { kept += files[j].bytes }
            if kept > keepBytesMax {
                updated[i].invalidated = true
            } else {
                limit = min(limit, lsn)
            }
        }
        return (limit, updated)
    }
}
