import Foundation
import LedgerClient
import LedgerEngine
import LedgerProtocol
import LedgerTestSupport
import Testing

@testable import LedgerServer

#if canImport(Glibc)
    import Glibc
#endif

/// A standby process connected to a forged primary (a socket in this test
/// that speaks the protocol and streams a real WAL with one message
/// altered): it applies what came before, refuses the altered message
/// without writing a byte of it, says why, stops streaming, keeps serving
/// reads, and its directory verifies.
@Suite(.serialized) struct ForgedPrimaryTests {
    /// Listens on loopback; serves one standby the given messages.
    final class ForgedPrimary: @unchecked Sendable {
        let listener: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            guard bound == 0, listen(fd, 4) == 0 else { throw LedgerError(.io, "forged primary: bind/listen failed") }
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            listener = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        deinit { close(listener) }

        static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            var offset = 0
            while offset < count {
                let got = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
                if got <= 0 { return nil }
                offset += got
            }
            return bytes
        }

        static func readFrame(_ fd: Int32) -> FrameHeader? {
            guard let head = readExactly(fd, ProtocolFormat.headerBytes),
                let header = try? head.withUnsafeBytes({ try FrameHeader.decode($0) }),
                readExactly(fd, header.bodyBytes) != nil
            else { return nil }
            return header
        }

        static func send(_ fd: Int32, _ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL)) }
        }

        /// Accepts one standby: hello → ok, replicate → `messages`, then
        /// reads its status frames until it hangs up.
        func serve(_ messages: [ReplicationMessage], directoryID: [UInt8]) {
            let listener = self.listener
            Thread {
                let fd = accept(listener, nil, nil)
                guard fd >= 0 else { return }
                defer { close(fd) }
                guard let hello = Self.readFrame(fd) else { return }
                let reply = HelloReply(
                    version: 1, frameBodyBytesMax: ProtocolFormat.frameBodyBytesMax, eventsPerRequestMax: 8_189, inFlightMax: 64, directoryID: directoryID)
                Self.send(fd, Frame.encode(operation: hello.operation, requestID: hello.requestID, body: reply.encoded()))
                guard let replicate = Self.readFrame(fd) else { return }
                for message in messages {
                    Self.send(
                        fd,
                        Frame.encode(
                            operation: replicate.operation, requestID: replicate.requestID, body: message.encoded(),
                            bodyBytesMax: ProtocolFormat.replicationFrameBodyBytesMax))
                }
                while Self.readFrame(fd) != nil {}
            }.startDetached()
        }
    }

    /// A real primary's WAL cut into small messages (the first is the header of its first file).
    static func stream(of primary: String) throws -> [ReplicationMessage] {
        var shipper = WALShipper(storage: POSIXStorage(), layout: DataDirectoryLayout(root: primary), from: 1)
        var messages: [ReplicationMessage] = []
        while true {
            let next = try shipper.next(throughLSN: .max, maxBytes: 2_048)
            if next.isEmpty { break }
            messages += next.map(ReplicationMessage.init)
        }
        return messages
    }

    /// The first record of a `walRecords` message, altered by `change` and
    /// re-sealed so its CRC is valid again when `reseal` (a forger's move).
    static func alterFirstRecord(_ message: ReplicationMessage, fileHeader: [UInt8], reseal: Bool, _ change: (inout [UInt8]) -> Void)
        throws -> ReplicationMessage
    {
        guard case .walRecords(let lsn, let offset, var records) = message else { throw LedgerError(.invalidInput, "not records") }
        let header = try WALFileHeader.decode(fileHeader, path: "forged")
        let payloadBytes = records.withUnsafeBytes { Int(_LE.u32($0, 0)) }
        let previousCRC = records.withUnsafeBytes { _LE.u32($0, 16) }
        var first = Array(records[0..<WALFormat.recordBytes(payloadBytes: payloadBytes)])
        change(&first)
        if reseal {
            first.withUnsafeMutableBytes { raw in
                _ = WALRecordHeader.seal(
                    raw, payloadBytes: payloadBytes, type: WALFormat.recordTypeGroup, lsn: lsn, previousCRC: previousCRC, epochSeed: header.epochSeed)
            }
        }
        records.replaceSubrange(0..<first.count, with: first)
        return .walRecords(firstLSN: lsn, offset: offset, records: records)
    }

    @Test(arguments: ["bit flipped in transit", "a gap in LSNs", "a forged chain value"])
    func aStandbyRefusesAForgedStreamAndStaysConsistent(_ forgery: String) async throws {
        let (primary, _) = try ReplicationFixtures.populated()
        let messages = try Self.stream(of: primary)
        guard case .walFile(let fileHeader) = messages[0], messages.count > 8 else {
            Issue.record("the stream is too short")
            return
        }
        guard case .walRecords(let goodUpTo, _, _) = messages[4] else {
            Issue.record("message 4 is not records")
            return
        }
        var forged = Array(messages[0..<4])
        switch forgery {
        case "bit flipped in transit":
            forged.append(try Self.alterFirstRecord(messages[4], fileHeader: fileHeader, reseal: false) { $0[WALFormat.recordHeaderBytes + 40] ^= 0x04 })
        case "a gap in LSNs":
            forged.append(messages[5])
        default:
            forged.append(
                try Self.alterFirstRecord(messages[4], fileHeader: fileHeader, reseal: true) { $0[WALFormat.recordHeaderBytes + HashChain.fieldOffset] ^= 1 })
        }
        forged += messages[5...]  // what follows is never applied either
        let standbyPath = try ReplicationFixtures.standby(of: primary)
        let keys = try ReplicationProcessTests.Keys()
        let fake = try ForgedPrimary()
        fake.serve(forged, directoryID: try DataDirectoryMeta.read(storage: POSIXStorage(), layout: DataDirectoryLayout(root: primary)).directoryID)
        let standby = try RunningServer(
            keysFile: keys.path, directory: standbyPath,
            arguments: ["--standby-of", "127.0.0.1:\(fake.port)", "--replication-key-file", keys.replicationKeyPath])
        defer { standby.removeDirectory() }
        var log = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !log.contains("an operator must act") {
            try await Task.sleep(for: .milliseconds(50))
            log = (try? String(contentsOfFile: standbyPath + ".log", encoding: .utf8)) ?? ""
        }
        #expect(log.contains("the engine refused the stream") && log.contains("corruption"), "\(forgery): \(log.suffix(800))")
        let client = ReplicationProcessTests.client(standby, keys)
        #expect(try await client.status().lastLSN == goodUpTo - 1, "\(forgery): the records before the forged message are applied, nothing after")
        #expect(try await client.lookupAccounts([1]).first??.id == 1, "the standby still serves reads")
        await client.close()
        #expect(try ReplicationProcessTests.scrape(standby).contains("ledger_standby_streaming 0"))
        #expect(standby.stop(keepDirectory: true) == 0)
        #expect(try ReplicationProcessTests.ledgerctl(["verify", "--data-dir", standbyPath]).status == 0, "\(forgery): the standby's directory verifies")
    }
}
