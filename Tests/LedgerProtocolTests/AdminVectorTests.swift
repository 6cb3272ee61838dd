import LedgerTestSupport
import Testing

@testable import LedgerProtocol

/// The `admin` request (Specs/protocol.md, "Admin operations"): its vector
/// decodes and re-encodes; malformed requests are refused.
@Suite struct AdminVectorTests {
    @Test func adminRequestsDecodeOnlyWhatTheSpecSays() throws {
        let commands: [AdminCommand] = [
            .months, .digest, .snapshot, .archive(beforeYear: 2026, beforeMonth: 9, codec: 1, level: 3), .restore(year: 2026, month: 8), .job(id: 7),
            .cancel(id: 7),
        ]
        for command in commands { #expect(try AdminCommand.decode(command.encoded()) == command) }
        let vector = try ProtocolVectorTests.vector("protocol-admin-archive.hex")
        let (header, body) = try Frame.decode(vector)
        #expect(header.operation == ProtocolOperation.admin.rawValue && header.requestID == 8)
        #expect(try AdminCommand.decode(body) == .archive(beforeYear: 2026, beforeMonth: 9, codec: 1, level: 3))
        for bad: [UInt8] in [
            [], [1, 0, 0, 0, 1, 0, 0, 0, 9], [9, 0, 0, 0, 0, 0, 0, 0], [5, 0, 0, 0, 4, 0, 0, 0, 0xEA, 0x07, 8, 1], [1, 0, 1, 0, 0, 0, 0, 0],
        ] {
            #expect(throws: ProtocolError.self, "\(bad)") { try AdminCommand.decode(bad) }
        }
        #expect(
            Frame.encode(
                operation: ProtocolOperation.admin.rawValue, requestID: 8,
                body: AdminCommand.archive(beforeYear: 2026, beforeMonth: 9, codec: 1, level: 3).encoded()) == vector)
    }
}
