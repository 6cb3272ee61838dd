// A connection that asks for one stream (`replicate`, `baseBackup`) and
// reads its frames: connect, `hello` with the key, then frames both ways.
// A frame with a non-zero status ends the stream: `StreamRefused` carries
// the status and the server's message.
import LedgerProtocol

public struct StreamRefused: Error, CustomStringConvertible {
    /// The server's status (nil: the stream broke the protocol).
    public var status: ProtocolStatus?
    public var message: String

    public init(status: ProtocolStatus?, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { "\(status.map { "\($0)" } ?? "protocol violation"): \(message)" }
}

public final class StreamConnection {
    public let socket: BlockingSocket

    /// Connects and authenticates (`hello`); throws `StreamRefused` when
    /// the key is refused, `SocketError` when the server cannot be reached.
    public init(host: String, port: Int, keyID: String, secret: [UInt8], timeoutMs: Int) throws {
        socket = try BlockingSocket(host: host, port: port, timeoutMs: timeoutMs)
        try send(operation: .hello, requestID: 0, body: HelloRequest(keyID: keyID, secret: secret).encoded())
        _ = try readFrame()
    }

    public func send(operation: ProtocolOperation, requestID: UInt64, body: [UInt8]) throws {
        try socket.writeAll(Frame.encode(operation: operation.rawValue, requestID: requestID, body: body))
    }

    /// The next frame's header and body (checksums checked); a non-zero
    /// status throws `StreamRefused`.
    public func readFrame(bodyBytesMax: Int = ProtocolFormat.frameBodyBytesMax) throws -> (header: FrameHeader, body: [UInt8]) {
        let headerBytes = try socket.readExactly(ProtocolFormat.headerBytes)
        let header = try headerBytes.withUnsafeBytes { try FrameHeader.decode($0, bodyBytesMax: bodyBytesMax) }
        let body = try socket.readExactly(header.bodyBytes)
        try body.withUnsafeBytes { try header.checkBody($0) }
        guard header.status == 0 else {
            throw StreamRefused(status: ProtocolStatus(rawValue: header.status), message: String(decoding: body, as: UTF8.self))
        }
        return (header, body)
    }
}
