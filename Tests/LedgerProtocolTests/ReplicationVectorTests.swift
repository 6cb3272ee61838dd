import Foundation
import LedgerEngine
import Testing

@testable import LedgerProtocol

/// The replication vectors (Specs/vectors/replication-*.hex, written by
/// generate.py from Specs/replication.md) decode to what the spec says and
/// re-encode byte for byte.
@Suite struct ReplicationVectorTests {
    static let directoryID = Array(UInt8(0xf0)...UInt8(0xff))

    static func frame(_ name: String, operation: ProtocolOperation) throws -> [UInt8] {
        let (header, body) = try Frame.decode(try ProtocolVectorTests.vector(name))
        #expect(header.operation == operation.rawValue && header.requestID == 7 && header.status == 0, "\(name)")
        return body
    }

    @Test func replicateRequest() throws {
        let body = try Self.frame("replication-replicate.hex", operation: .replicate)
        let chain = try String(contentsOf: ProtocolVectorTests.root.appendingPathComponent("Specs/vectors/wal-chain-1.txt"), encoding: .utf8)
        let request = try ReplicateRequest.decode(body)
        #expect(request.directoryID == Self.directoryID && request.timeline == 1 && request.lastDurableLSN == 1)
        #expect(request.chainValue.map { String(format: "%02x", $0) }.joined() == chain.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(request.encoded() == body)
    }

    @Test func streamMessages() throws {
        let file = try Self.frame("replication-wal-file.hex", operation: .replicate)
        #expect(try ReplicationMessage.decode(file) == .walFile(header: try ProtocolVectorTests.vector("wal-file-header.hex")))
        #expect(try ReplicationMessage.decode(file).encoded() == file)
        let records = try Self.frame("replication-wal-records.hex", operation: .replicate)
        let expected = ReplicationMessage.walRecords(firstLSN: 1, offset: 4096, records: try ProtocolVectorTests.vector("wal-record-group.hex"))
        #expect(try ReplicationMessage.decode(records) == expected)
        #expect(expected.encoded() == records)
        let heartbeat = try Self.frame("replication-heartbeat.hex", operation: .replicate)
        #expect(try ReplicationMessage.decode(heartbeat) == .heartbeat(durableLSN: 1, clockNs: 1_700_000_000_000_000_000, replyRequested: true))
        #expect(try ReplicationMessage.decode(heartbeat).encoded() == heartbeat)
    }

    @Test func baseBackupMessages() throws {
        let expected: [(String, ReplicationMessage)] = [
            ("replication-backup-start.hex", .backupStart(imageBytes: 123_456, fileCount: 5)),
            ("replication-backup-file.hex", .backupFile(name: "segments/2026-11.seg", copyBytes: 4_160, totalBytes: 4_160)),
            ("replication-backup-data.hex", .backupData(offset: 4_096, bytes: Array(0..<64))),
            ("replication-backup-end.hex", .backupEnd(snapshotLSN: 2, lastLSN: 41)),
        ]
        for (name, message) in expected {
            let body = try Self.frame(name, operation: .baseBackup)
            #expect(try ReplicationMessage.decode(body) == message, "\(name)")
            #expect(message.encoded() == body, "\(name)")
        }
        // A name that would leave the target directory, or is not one a
        // data directory holds, never decodes.
        for name in ["../x", "segments/../../etc", "/etc/passwd", "a/b/c", "", ".", "seg ments", "é"] {
            #expect(!ReplicationMessage.isValidBackupName(name), "\(name)")
        }
    }

    @Test func standbyStatus() throws {
        let body = try Self.frame("replication-standby-status.hex", operation: .standbyStatus)
        let status = try StandbyStatus.decode(body)
        #expect(status == StandbyStatus(durableLSN: 1, appliedLSN: 1, clockNs: 1_700_000_000_000_000_001))
        #expect(status.encoded() == body)
    }

    @Test func malformedBodiesAreRefused() throws {
        let records = try Self.frame("replication-wal-records.hex", operation: .replicate)
        for bad in [Array(records.dropLast()), [9] + records.dropFirst(), Array(records.prefix(7)), records.enumerated().map { $0 == 1 ? 1 : $1 }] {
            #expect(throws: ProtocolError.self) { _ = try ReplicationMessage.decode(bad) }
        }
        #expect(throws: ProtocolError.self) { _ = try ReplicateRequest.decode([UInt8](repeating: 0, count: 63)) }
        #expect(throws: ProtocolError.self) { _ = try StandbyStatus.decode([UInt8](repeating: 1, count: 32)) }
    }
}
