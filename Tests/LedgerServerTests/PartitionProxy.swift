import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP proxy on loopback between a standby and its primary that a test
/// can cut: from `cut()` on, nothing more is forwarded (bytes it holds are
/// dropped), its connections close and it accepts no more. A partition
/// without touching either process: what the primary wrote after it never
/// reaches the standby, even if the primary then dies.
final class PartitionProxy: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let targetPort: Int
    private let state = NSLock()
    private var cutOff = false
    private var paused = false
    private var sockets: [Int32] = []

    init(to targetPort: Int) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { self.acceptLoop() }
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    /// The partition: no byte forwarded from now on.
    func cut() {
        state.lock()
        cutOff = true
        for fd in sockets + [listener] { shutdown(fd, Int32(SHUT_RDWR)) }
        state.unlock()
    }

    /// A stall: bytes are held (in this proxy and the kernel's buffers) and
    /// forwarded, in order, after `resume()`. Connections stay open.
    func pause() {
        state.lock()
        paused = true
        state.unlock()
    }

    func resume() {
        state.lock()
        paused = false
        state.unlock()
    }

    private var isPaused: Bool {
        state.lock()
        defer { state.unlock() }
        return paused
    }

    private var isCut: Bool {
        state.lock()
        defer { state.unlock() }
        return cutOff
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0, !isCut else {
                if client >= 0 { close(client) }
                close(listener)
                return
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: UInt16(targetPort))
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            state.lock()
            sockets += [client, upstream]
            state.unlock()
            Thread.detachNewThread { self.copy(from: client, to: upstream) }
            Thread.detachNewThread { self.copy(from: upstream, to: client) }
        }
    }

    private func copy(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0, !isCut else { break }
            while isPaused && !isCut { usleep(2_000) }
            var sent = 0
            while sent < count {
                let n = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { break }
                sent += n
            }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
    }
}
