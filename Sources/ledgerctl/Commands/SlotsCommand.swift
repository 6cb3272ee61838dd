// `ledgerctl slots`: the primary's replication slots (Specs/replication.md,
// "Replication slots") with their lag, read-only; `--drop KEY` deletes one
// (offline: it takes the directory's lock, so the server must be stopped).
import ArgumentParser
import LedgerEngine

struct SlotsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slots", abstract: "List the replication slots with their lag, or drop one (--drop KEY, with the server stopped).")

    @OptionGroup var directory: DataDirectoryOptions
    @Option(help: "Drop the slot of this replication key.") var drop: String?
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        try runReportingErrors {
            let layout = DataDirectoryLayout(root: directory.dataDirectory)
            let storage = POSIXStorage()
            if let drop { return try dropSlot(drop, storage: storage, layout: layout) }
            let lock = try storage.lockFileShared(layout.lockPath)
            defer { lock.release() }
            let slots = try ReplicationSlotsFile.read(storage: storage, layout: layout)
            let scan = try WALReader(storage: storage, layout: layout).scan(mode: .verify) { _ in }
            let files = try WALReader(storage: storage, layout: layout).walFiles()
            let fileBytes = try DataDirectoryMeta.read(storage: storage, layout: layout).walFileBytes
            for slot in slots {
                let lagRecords = scan.lastLSN - min(scan.lastLSN, slot.lsn)
                // WAL files holding records after the slot's LSN.
                let keptFiles = files.indices.filter { i in i == files.count - 1 || files[i + 1].firstLSN - 1 > slot.lsn }.count
                if json {
                    print(
                        JSONValue.object([
                            ("key", .string(slot.keyID)), ("lsn", .string(String(slot.lsn))), ("valid", .bool(!slot.invalidated)),
                            ("lagRecords", .string(String(lagRecords))), ("walBytesKept", .string(String(keptFiles * fileBytes))),
                        ]).text)
                } else {
                    print(
                        "\(slot.keyID): LSN \(slot.lsn), \(slot.invalidated ? "invalidated (its standby needs a new base backup)" : "valid"), \(lagRecords) records behind the WAL's end (LSN \(scan.lastLSN)), \(keptFiles) WAL files (\(keptFiles * fileBytes >> 20) MiB) from its LSN on"
                    )
                }
            }
            if slots.isEmpty && !json { print("no replication slots") }
        }
    }

    private func dropSlot(_ key: String, storage: POSIXStorage, layout: DataDirectoryLayout) throws {
        let lock = try storage.lockFile(layout.lockPath)
        defer { lock.release() }
        let slots = try ReplicationSlotsFile.read(storage: storage, layout: layout)
        guard slots.contains(where: { $0.keyID == key }) else { throw LedgerError(.invalidInput, "no replication slot named '\(key)'") }
        try ReplicationSlotsFile.write(slots.filter { $0.keyID != key }, storage: storage, layout: layout)
        print("dropped the replication slot of '\(key)'; its WAL is compacted at the next snapshot")
    }
}
