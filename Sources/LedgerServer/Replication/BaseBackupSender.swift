// `baseBackup` (Specs/replication.md, "Base backup"): the engine lists a
// consistent image (a fresh snapshot, the months, the WAL from the
// snapshot on: BaseBackup.swift); a thread of its own streams it as
// `backupFile` / `backupData` messages and ends with `backupEnd`, while
// commits go on. Memory stays bounded: it waits for the socket to take
// each 8 MiB before it reads more.
import LedgerEngine
import LedgerProtocol
import Logging
import NIOCore

extension ConnectionHandler {
    func startBaseBackup(_ context: ChannelHandlerContext, _ header: FrameHeader) throws {
        guard !ledger.isStandby else { throw ProtocolError(.notPrimary, "this server is a standby; take the base backup from its primary") }
        replicationStarting = true  // nothing else is served on this connection
        let sender = BaseBackupSender(ledger: ledger, channel: context.channel, requestID: header.requestID, keyID: authenticatedKey ?? "?", logger: logger)
        Thread { sender.run() }.startDetached()
    }
}

struct BaseBackupSender: @unchecked Sendable {
    let ledger: Ledger
    let channel: any Channel
    let requestID: UInt64
    let keyID: String
    let logger: Logger

    static let chunkBytes = 1 << 20
    static let unflushedBytesMax = 8 << 20

    func run() {
        do {
            let manifest = try ledger.baseBackupManifest()
            defer { manifest.close() }
            // The slot keeps the WAL after the image until the standby streams.
            try ledger.createSlot(keyID, lsn: manifest.lastLSN)
            logger.info(
                "base backup: streaming", metadata: ["files": "\(manifest.files.count)", "bytes": "\(manifest.totalBytes)", "lastLSN": "\(manifest.lastLSN)"])
            var unflushed = 0
            try send(.backupStart(imageBytes: UInt64(manifest.totalBytes), fileCount: UInt64(manifest.files.count)), unflushed: &unflushed)
            for file in manifest.files {
                try send(.backupFile(name: file.name, copyBytes: UInt64(file.copyBytes), totalBytes: UInt64(file.totalBytes)), unflushed: &unflushed)
                // The prefix as read with the manifest (a segment's header
                // page: its frontier and the bytes copied agree), then the rest.
                var offset = min(file.prefix.count, file.copyBytes)
                if offset > 0 { try send(.backupData(offset: 0, bytes: Array(file.prefix[0..<offset])), unflushed: &unflushed) }
                while offset < file.copyBytes {
                    let count = min(Self.chunkBytes, file.copyBytes - offset)
                    try send(.backupData(offset: UInt64(offset), bytes: try file.handle.readExactly(count, at: offset)), unflushed: &unflushed)
                    offset += count
                }
            }
            try send(.backupEnd(snapshotLSN: manifest.snapshotLSN, lastLSN: manifest.lastLSN), unflushed: &unflushed)
            logger.info("base backup: done", metadata: ["lastLSN": "\(manifest.lastLSN)"])
        } catch {
            logger.error("base backup: failed", metadata: ["error": "\(error)"])
            let status = (error as? LedgerError).map { ConnectionHandler.protocolError($0) } ?? ProtocolError(.internalError, "\(error)")
            let frame = Frame.error(status, operation: ProtocolOperation.baseBackup.rawValue, requestID: requestID)
            let channel = self.channel
            channel.writeAndFlush(channel.allocator.buffer(bytes: frame)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Writes one message; every `unflushedBytesMax` waits until the socket
    /// took it (throws when the connection is gone).
    private func send(_ message: ReplicationMessage, unflushed: inout Int) throws {
        let frame = Frame.encode(operation: ProtocolOperation.baseBackup.rawValue, requestID: requestID, body: message.encoded())
        let written = channel.writeAndFlush(channel.allocator.buffer(bytes: frame))
        unflushed += frame.count
        if unflushed >= Self.unflushedBytesMax {
            try written.wait()
            unflushed = 0
        }
    }
}
