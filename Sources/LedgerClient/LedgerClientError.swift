// Errors a LedgerClient call can end with.
import LedgerProtocol

public enum LedgerClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call's deadline passed before a definitive answer. A submission
    /// may or may not have been applied: retry it with the same ids.
    case deadlineExceeded
    /// The server refused the request with a status retrying cannot fix
    /// (`malformedBody`, `unauthenticated`, ...). Nothing was applied.
    case refused(ProtocolStatus, String)
    /// The connection closed with the request unanswered (retried within
    /// the deadline; surfaced only when retries are off).
    case connectionClosed
    /// The server sent something the protocol does not allow.
    case protocolViolation(String)
    /// Nothing listens at the address (ECONNREFUSED) and this client has
    /// never reached a server there: reported at once, not retried to the
    /// deadline. (Once connected, a refused reconnect is a restarting server
    /// and is retried.)
    case connectionRefused(String)

    public var description: String {
        switch self {
        case .deadlineExceeded: "deadline exceeded"
        case .refused(let status, let message): "refused: \(status): \(message)"
        case .connectionClosed: "connection closed"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .connectionRefused(let address): "connection refused by \(address): no server listens there"
        }
    }
}
