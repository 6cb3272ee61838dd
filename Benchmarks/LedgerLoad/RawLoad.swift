// `LedgerLoad --raw`: the closed loop without LedgerClient. One OS thread per
// connection, a blocking socket, one request in flight: send a frame, read
// its reply. It costs the machine far less per request than the async
// client (no event loop, actor or task hops), so on a shared 2-core box it
// leaves more CPU to the server: the figure bounds what the server does
// when its clients run elsewhere.
import BenchmarkSupport
import Foundation
import Histogram
import LedgerEngine
import LedgerProtocol

enum RawLoad {
    /// A blocking TCP connection that has completed the handshake.
    final class Socket {
        let fd: Int32
        init(port: Int, keyID: String, secret: [UInt8]) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw LedgerError(.io, "connect: errno \(errno)") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let (status, _) = try roundTrip(
                Frame.encode(operation: ProtocolOperation.hello.rawValue, requestID: 1, body: HelloRequest(keyID: keyID, secret: secret).encoded()))
            guard status == 0 else { throw LedgerError(.io, "hello refused: status \(status)") }
        }
        deinit { close(fd) }

        func roundTrip(_ frame: [UInt8]) throws -> (UInt16, [UInt8]) {
            var sent = 0
            while sent < frame.count {
                let n = frame.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw LedgerError(.io, "send: errno \(errno)") }
                sent += n
            }
            let head = try receive(ProtocolFormat.headerBytes)
            let header = try head.withUnsafeBytes { try FrameHeader.decode($0) }
            return (header.status, try receive(header.bodyBytes))
        }

        private func receive(_ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
                guard n > 0 else { throw LedgerError(.io, "recv: closed or errno \(errno)") }
                got += n
            }
            return out
        }
    }

    static func run(port: Int, keyID: String, secret: [UInt8], connections: Int, run: Run, seconds: Double) throws -> (Int, Histogram<UInt64>, UInt64) {
        let sockets = try (0..<connections).map { _ in try Socket(port: port, keyID: keyID, secret: secret) }
        let warmupEndNs = Run.nowNs() + 1_000_000_000
        let endNs = warmupEndNs + UInt64(seconds * 1e9)
        let lock = ConditionLock()
        nonisolated(unsafe) var total = 0
        nonisolated(unsafe) var merged = Run.latencyHistogram()
        nonisolated(unsafe) var failure: (any Error)?
        nonisolated(unsafe) var finished = 0
        for (lane, socket) in sockets.enumerated() {
            LedgerEngine.Thread {
                var rng = FastRandom()
                var histogram = Run.latencyHistogram()
                var entries = 0
                var sequence = lane
                var requestID: UInt64 = 2
                do {
                    while true {
                        let events = run.request(sequence, &rng)
                        sequence += connections
                        let frame = Frame.encode(operation: ProtocolOperation.submitEntries.rawValue, requestID: requestID, body: EventBatchBody.encode(events))
                        requestID += 1
                        let startNs = Run.nowNs()
                        if startNs >= endNs { break }
                        let (status, body) = try socket.roundTrip(frame)
                        guard status == 0 else { throw LedgerError(.io, "status \(status)") }
                        let results = try ResultsBody.decode(body, eventCount: events.eventCount)
                        guard results.allSatisfy({ $0 == .ok }) else { throw LedgerError(.io, "results \(Set(results))") }
                        if startNs >= warmupEndNs {
                            _ = histogram.record((Run.nowNs() - startNs) / 1_000)
                            entries += results.count
                        }
                    }
                } catch {
                    lock.withLock { failure = error }
                }
                lock.withLock {
                    total += entries
                    merged.add(histogram)
                    finished += 1
                    lock.broadcast()
                }
            }.start()
        }
        lock.withLock { while finished < connections { lock.wait() } }
        if let failure { throw failure }
        return (total, merged, endNs - warmupEndNs)
    }
}
