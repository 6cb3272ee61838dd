// A blocking TCP connection for a thread that reads a stream (a standby's
// receiver, `ledgerctl basebackup`): connect with
// a timeout, read exactly n bytes, write all, wait for readability. Thin
// wrappers over the syscalls; every failure is a `SocketError` naming the
// call. Plain TCP only (the stream over TLS is not built yet: see
// docs/operations.md, "Replication").
#if canImport(Glibc)
    import Glibc
#endif

public struct SocketError: Error, CustomStringConvertible {
    public var description: String
}

public final class BlockingSocket {
    private let fd: Int32

    /// Connects to `host:port` (names resolved), with TCP_NODELAY and
    /// `timeoutMs` on every later read and write.
    public init(host: String, port: Int, timeoutMs: Int) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &results)
        guard resolved == 0, let first = results else { throw SocketError(description: "cannot resolve \(host): \(String(cString: gai_strerror(resolved)))") }
        defer { freeaddrinfo(results) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let info = candidate {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                var timeout = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    self.fd = fd
                    return
                }
                lastError = errno
                close(fd)
            }
            candidate = info.pointee.ai_next
        }
        throw SocketError(description: "cannot connect to \(host):\(port): \(String(cString: strerror(lastError)))")
    }

    deinit { close(fd) }

    /// Shuts the connection down (a blocked read on another thread returns).
    public func shutDown() { shutdown(fd, Int32(SHUT_RDWR)) }

    public func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SocketError(description: "send failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Reads exactly `count` bytes; throws on end of stream or timeout.
    public func readExactly(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if got < 0 && errno == EINTR { continue }
            if got == 0 { throw SocketError(description: "the primary closed the connection") }
            guard got > 0 else { throw SocketError(description: "receive failed: \(String(cString: strerror(errno)))") }
            offset += got
        }
        return bytes
    }

    /// Whether bytes can be read now (without blocking).
    public func hasBytesReady() -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) > 0
    }
}
