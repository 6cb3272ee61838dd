// Operator commands (`admin`, operation 12; Specs/protocol.md "Admin
// operations") for a key with the admin role. The reply is a JSON object.
import LedgerProtocol

extension LedgerClient {
    /// Sends `command`; the server's JSON answer, as bytes.
    public func admin(_ command: AdminCommand) async throws -> [UInt8] {
        try await call(.admin, command.encoded())
    }
}
