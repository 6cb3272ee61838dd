import Foundation
import LedgerEngine
import LedgerKeys
import LedgerProtocol
import LedgerTestSupport
import Testing

/// LedgerServer as a real process over real TCP: the handshake, every
/// served operation, pipelining, idempotent retries, hostile input that
/// leaves other clients unaffected, and a clean stop on SIGTERM.
@Suite(.serialized) struct ServerEndToEndTests {
    /// A blocking TCP connection with a receive timeout.
    final class Connection {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw LedgerError(.io, "connect: \(errno)") }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

        /// Sends all of `bytes` unless the peer stops reading for `timeoutSeconds`.
        func trySend(_ bytes: [UInt8], timeoutSeconds: Int = 1) -> Bool {
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { return false }
                sent += n
            }
            return true
        }

        /// Exactly `count` bytes, or nil at EOF / timeout.
        func receive(_ count: Int) -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
                if n <= 0 { return nil }
                got += n
            }
            return out
        }

        /// Whatever arrives next, or nil at EOF / timeout.
        func receiveSome() -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: 65_536)
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            return n > 0 ? Array(out[0..<n]) : nil
        }

        /// The next reply frame, or nil when the server closed the connection.
        func reply() throws -> (header: FrameHeader, body: [UInt8])? {
            guard let head = receive(ProtocolFormat.headerBytes) else { return nil }
            let header = try head.withUnsafeBytes { try FrameHeader.decode($0) }
            guard let body = receive(header.bodyBytes) else { return nil }
            return (header, body)
        }

        func request(_ operation: ProtocolOperation, _ id: UInt64, _ body: [UInt8]) throws -> (header: FrameHeader, body: [UInt8]) {
            send(Frame.encode(operation: operation.rawValue, requestID: id, body: body))
            return try #require(try reply())
        }

        func hello(secret: [UInt8], keyID: String = "dev") throws -> (header: FrameHeader, body: [UInt8]) {
            try request(.hello, 1, HelloRequest(keyID: keyID, secret: secret).encoded())
        }
    }

    @Test func servesEveryOperationPipelinedAndIdempotently() throws {
        let server = try RunningServer()
        #expect(server.port > 0 && server.secret.count == 32, "server did not start")
        let c = try Connection(port: server.port)
        let hello = try c.hello(secret: server.secret)
        #expect(hello.header.status == 0)
        let reply = try HelloReply.decode(hello.body)
        #expect(reply.inFlightMax == 16 && reply.eventsPerRequestMax == Limits.batchEventsMax)

        let accounts = try c.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)])))
        #expect(try ResultsBody.decode(accounts.body, eventCount: 2) == [.ok, .ok])
        // Pipelined: 10 submissions sent before any reply is read; replies match by id.
        for i in 0..<10 {
            c.send(
                Frame.encode(
                    operation: ProtocolOperation.submitEntries.rawValue, requestID: UInt64(100 + i),
                    body: EventBatchBody.encode(EventBatch([transfer(UInt128(5_000 + i), from: 1, to: 2, 7)]))))
        }
        var seen = Set<UInt64>()
        for _ in 0..<10 {
            let (header, body) = try #require(try c.reply())
            let results = try ResultsBody.decode(body, eventCount: 1)
            #expect(header.status == 0 && results == [.ok])
            seen.insert(header.requestID)
        }
        #expect(seen == Set(100..<110))
        // A retry with the same id is idempotent.
        let retry = try c.request(.submitEntries, 200, EventBatchBody.encode(EventBatch([transfer(5_000, from: 1, to: 2, 7)])))
        #expect(try ResultsBody.decode(retry.body, eventCount: 1) == [.exists])
        let lookup = try c.request(.lookupAccounts, 201, IDListBody.encode([1, 2, 99]))
        let found = try AccountListBody.decode(lookup.body, count: 3)
        #expect(found[0]?.debitsPosted == 70 && found[1]?.creditsPosted == 70 && found[2] == nil)
        let status = try StatusBody.decode(try c.request(.status, 202, []).body)
        #expect(status.accounts == 2 && status.connections >= 1 && status.lastLSN >= 1 && status.residentEntries == 10)
        // History, balance as of, entry lookups: from the segments.
        let history = try HistoryPageBody.decode(try c.request(.accountHistory, 203, HistoryQuery(account: 1, limit: 4).encoded()).body)
        #expect(history.items.count == 4 && history.nextCursor != nil && history.items.allSatisfy { $0.debitsPostedDelta == 7 })
        let rest = try HistoryPageBody.decode(
            try c.request(.accountHistory, 204, HistoryQuery(account: 1, afterNs: history.nextCursor, limit: 100).encoded()).body)
        #expect(rest.items.count == 6 && rest.items.last?.balances.debitsPosted == 70)
        let asOf = try BalanceBodies.decodeBalances(
            try c.request(.balanceAsOf, 205, BalanceBodies.encodeQuery(account: 2, asOfNs: history.items[1].timestamp)).body)
        #expect(asOf.creditsPosted == 14)
        let entries = try EntryListBody.decode(try c.request(.lookupEntries, 206, IDListBody.encode([5_003, 404])).body, count: 2)
        #expect(entries[0]?.entry.id == 5_003 && entries[0]?.entry.postings.first?.amount == 7 && entries[1] == nil)
        // A malformed body: refused, the connection stays.
        #expect(try c.request(.balanceAsOf, 207, [1, 2, 3]).header.status == ProtocolStatus.malformedBody.rawValue)
        #expect(try c.request(.status, 208, []).header.status == 0)
        #expect(server.stop() == 0, "SIGTERM stops the server cleanly")
    }

    @Test func hostileInputIsRefusedAndOtherClientsAreUnaffected() throws {
        let server = try RunningServer()
        let good = try Connection(port: server.port)
        #expect(try good.hello(secret: server.secret).header.status == 0)

        // Unauthenticated: refused and closed.
        let anonymous = try Connection(port: server.port)
        let refused = try anonymous.request(.submitEntries, 9, EventBatchBody.encode(EventBatch([transfer(1, from: 1, to: 2, 1)])))
        #expect(refused.header.status == ProtocolStatus.unauthenticated.rawValue)
        #expect(try anonymous.reply() == nil, "closed after the refusal")
        // A wrong secret: refused and closed.
        let wrong = try Connection(port: server.port)
        #expect(try wrong.hello(secret: [UInt8](repeating: 7, count: 32)).header.status == ProtocolStatus.unauthenticated.rawValue)
        // Random bytes: a malformedFrame reply, then the connection is closed.
        let noise = try Connection(port: server.port)
        var rng = SeededRandom(seed: 5)
        noise.send((0..<4_096).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let noiseReply = try noise.reply()
        #expect(noiseReply?.header.status == ProtocolStatus.malformedFrame.rawValue)
        #expect(try noise.reply() == nil)
        // An oversize length: refused from the header, closed.
        let huge = try Connection(port: server.port)
        #expect(try huge.hello(secret: server.secret).header.status == 0)
        var header = FrameHeader(operation: 3, requestID: 5, bodyBytes: ProtocolFormat.frameBodyBytesMax, bodyCRC: 0).encoded()
        header[19] = 0x7f  // a length far beyond the limit; the header CRC then fails: refused either way
        huge.send(header)
        #expect(try huge.reply()?.header.status == ProtocolStatus.malformedFrame.rawValue)
        // A body checksum mismatch: refused, the connection stays usable.
        var damaged = Frame.encode(
            operation: ProtocolOperation.submitEntries.rawValue, requestID: 6, body: EventBatchBody.encode(EventBatch([transfer(1, from: 1, to: 2, 1)])))
        damaged[damaged.count - 1] ^= 1
        good.send(damaged)
        #expect(try good.reply()?.header.status == ProtocolStatus.bodyChecksumMismatch.rawValue)
        // A truncated frame then close: nothing happens to the others.
        let truncated = try Connection(port: server.port)
        #expect(try truncated.hello(secret: server.secret).header.status == 0)
        truncated.send(Array(Frame.encode(operation: 3, requestID: 7, body: EventBatchBody.encode(EventBatch([transfer(42, from: 1, to: 2, 1)]))).prefix(40)))
        // The good client is still served, and nothing was written by the refused requests.
        #expect(
            try ResultsBody.decode(try good.request(.createAccounts, 8, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [.ok, .ok])
        let accounts = try AccountListBody.decode(try good.request(.lookupAccounts, 9, IDListBody.encode([1, 2])).body, count: 2)
        #expect(accounts[0]?.debitsPosted == 0 && accounts[1]?.creditsPosted == 0, "a refused request changed nothing")
        #expect(server.stop() == 0)
    }
}

extension ServerEndToEndTests {
    /// A key limited to 10 events per second gets `rateLimited` past its
    /// bucket, and nothing of the refused batch is applied; another key is
    /// not affected.
    @Test func perKeyRateLimitRefusesWholeBatches() throws {
        func line(_ keyID: String, _ secret: [UInt8], rate: Int?) -> String {
            let salt = [UInt8](repeating: UInt8(keyID.count), count: 16)
            let hasher = SHA256Hasher()
            hasher.update(salt)
            hasher.update(secret)
            let hex = { (b: [UInt8]) in b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
            return "\(keyID) \(hex(salt)) \(hex(hasher.finish()))" + (rate.map { " \($0)" } ?? "")
        }
        let limitedSecret = [UInt8](repeating: 1, count: 32)
        let freeSecret = [UInt8](repeating: 2, count: 32)
        let keysFile = NSTemporaryDirectory() + "ledger-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try (line("limited", limitedSecret, rate: 10) + "\n" + line("free", freeSecret, rate: nil) + "\n").write(
            toFile: keysFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keysFile) }
        let server = try RunningServer(keysFile: keysFile)
        let free = try Connection(port: server.port)
        #expect(try free.hello(secret: freeSecret, keyID: "free").header.status == 0)
        #expect(
            try ResultsBody.decode(try free.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [.ok, .ok])
        let limited = try Connection(port: server.port)
        #expect(try limited.hello(secret: limitedSecret, keyID: "limited").header.status == 0)
        let eight = { (base: UInt128) in EventBatchBody.encode(EventBatch((0..<8).map { transfer(base + UInt128($0), from: 1, to: 2, 1) })) }
        #expect(try limited.request(.submitEntries, 3, eight(100)).header.status == 0)
        let refused = try limited.request(.submitEntries, 4, eight(200))
        #expect(refused.header.status == ProtocolStatus.rateLimited.rawValue)
        // The unlimited key goes on; the refused batch left no entry.
        for i in 0..<5 { #expect(try free.request(.submitEntries, UInt64(10 + i), eight(UInt128(1_000 * (i + 1)))).header.status == 0) }
        let rows = try EntryListBody.decode(try free.request(.lookupEntries, 20, IDListBody.encode([100, 200])).body, count: 2)
        #expect(rows[0] != nil && rows[1] == nil)
        // A request larger than the rate (50 events at 10/s) is not refused
        // forever: the bucket is one full batch deep, so it passes once ~5 s
        // of refill have accumulated.
        let fifty = EventBatchBody.encode(EventBatch((0..<50).map { transfer(5_000 + UInt128($0), from: 1, to: 2, 1) }))
        var passedAfterSeconds: Double?
        let started = Date()
        for attempt in 0..<80 where passedAfterSeconds == nil {
            let reply = try limited.request(.submitEntries, UInt64(30 + attempt), fifty)
            if reply.header.status == 0 { passedAfterSeconds = Date().timeIntervalSince(started) } else { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(passedAfterSeconds != nil, "a 50-event request never passed a 10/s key")
        #expect(server.stop() == 0)
    }
}

extension ServerEndToEndTests {
    /// Resident memory of a process, from /proc.
    static func residentBytes(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    /// 1,000 idle connections (some holding half a header) and a client that
    /// sends without reading: the server keeps serving others, its memory
    /// stays bounded (the slow reader's requests stop being read once its
    /// replies pass the write buffer's high-water mark), and nothing is written.
    @Test func idleConnectionsAndASlowReaderDoNotStopService() throws {
        let server = try RunningServer()
        let good = try Connection(port: server.port)
        #expect(try good.hello(secret: server.secret).header.status == 0)
        #expect(
            try ResultsBody.decode(try good.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [.ok, .ok])
        var idle: [Connection] = []
        for i in 0..<1_000 {
            let c = try Connection(port: server.port)
            if i % 3 == 0 { c.send(Array(Frame.encode(operation: 1, requestID: 1, body: []).prefix(17))) }
            idle.append(c)
        }
        // Accepting runs behind the kernel's backlog: wait until all are counted.
        var status = try StatusBody.decode(try good.request(.status, 3, []).body)
        let acceptDeadline = Date().addingTimeInterval(20)
        while status.connections < 1_001 && Date() < acceptDeadline {
            Thread.sleep(forTimeInterval: 0.1)
            status = try StatusBody.decode(try good.request(.status, 3, []).body)
        }
        #expect(status.connections >= 1_001, "\(status.connections) connections counted")
        #expect(
            try ResultsBody.decode(
                try good.request(.submitEntries, 4, EventBatchBody.encode(EventBatch([transfer(10, from: 1, to: 2, 5)]))).body, eventCount: 1) == [.ok])

        // The slow reader: lookups with 1 MiB replies, sent without reading.
        let slow = try Connection(port: server.port)
        #expect(try slow.hello(secret: server.secret).header.status == 0)
        let rssBefore = Self.residentBytes(server.process.processIdentifier)
        let lookup = IDListBody.encode([UInt128](repeating: 1, count: ProtocolFormat.idsPerRequestMax))
        var sent = 0
        while sent < 600, slow.trySend(Frame.encode(operation: ProtocolOperation.lookupAccounts.rawValue, requestID: UInt64(10 + sent), body: lookup)) {
            sent += 1
        }
        #expect(sent < 600, "the server never stopped reading a client that does not read (\(sent) requests of 1 MiB replies taken)")
        let rssAfter = Self.residentBytes(server.process.processIdentifier)
        #expect(rssAfter - rssBefore < 160 * 1024 * 1024, "server RSS grew \((rssAfter - rssBefore) >> 20) MiB for one slow reader")
        // Others are still served meanwhile.
        #expect(
            try ResultsBody.decode(
                try good.request(.submitEntries, 5, EventBatchBody.encode(EventBatch([transfer(11, from: 1, to: 2, 5)]))).body, eventCount: 1) == [.ok])
        idle.removeAll()

        // A reply that would outgrow a frame is refused, and the server stays up.
        let big = NewEntry(
            id: 12, postings: (0..<64).flatMap { _ in [Posting.debit(1, 1), Posting.credit(2, 1)] },
            metadata: [UInt8](repeating: 7, count: Limits.entryMetadataBytesMax))
        #expect(
            try ResultsBody.decode(try good.request(.submitEntries, 6, EventBatchBody.encode(EventBatch([.createEntry(big)]))).body, eventCount: 1) == [.ok])
        let tooBig = try good.request(.lookupEntries, 7, IDListBody.encode([UInt128](repeating: 12, count: 700)))  // 700 rows of 6,232 bytes: 4.36 MB)
        #expect(tooBig.header.status == ProtocolStatus.malformedBody.rawValue)
        let accounts = try AccountListBody.decode(try good.request(.lookupAccounts, 8, IDListBody.encode([1, 2])).body, count: 2)
        #expect(accounts[0]?.debitsPosted == 74 && accounts[1]?.creditsPosted == 74, "only the three accepted entries moved money")
        #expect(server.stop() == 0)
    }
}

extension ServerEndToEndTests {
    /// The Prometheus endpoint counts what happened: events committed,
    /// rejections by result code, refusals by status, fdatasync latency.
    @Test func prometheusEndpointCountsCommitsRejectionsAndSyncs() throws {
        let server = try RunningServer()
        #expect(server.metricsPort > 0, "no metrics port printed")
        let c = try Connection(port: server.port)
        #expect(try c.hello(secret: server.secret).header.status == 0)
        #expect(
            try ResultsBody.decode(try c.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [.ok, .ok])
        let entries = EventBatch([transfer(10, from: 1, to: 2, 5), transfer(10, from: 1, to: 2, 5), transfer(11, from: 1, to: 99, 5)])
        #expect(
            try ResultsBody.decode(try c.request(.submitEntries, 3, EventBatchBody.encode(entries)).body, eventCount: 3) == [.ok, .exists, .accountNotFound])
        #expect(try c.request(.balanceAsOf, 4, [1]).header.status == ProtocolStatus.malformedBody.rawValue)

        let text = try Self.get("/metrics", port: server.metricsPort)
        #expect(text.hasPrefix("HTTP/1.1 200"))
        for line in [
            "ledger_events_committed_total 5", "ledger_requests_committed_total 2",
            // An idempotent retry is counted apart, not as a rejection.
            "ledger_events_existing_total 1", "ledger_event_rejections_total{result=\"accountNotFound\"} 1",
            "ledger_request_refusals_total{status=\"malformedBody\"} 1", "ledger_connections 1.0", "ledger_queue_depth_batches 0.0",
            "ledger_wal_files 1", "ledger_months{form=\"segment\"} 1", "ledger_months{form=\"archive\"} 0",
        ] {
            #expect(text.contains(line + "\n"), "missing: \(line)")
        }
        #expect(!text.contains("result=\"exists\""), "exists counted as a rejection")
        #expect(text.contains("ledger_build_info{version=\"\(BuildInfo.version)\",wal_format=\"\(WALFormat.version)\""), "no build information")
        #expect(text.contains("ledger_wal_fdatasync_seconds_count "), "no fdatasync histogram")
        #expect(text.contains("ledger_request_events_bucket{le=\"2.0\"} 1"), "request sizes: the 2-event request in the <= 2 bucket")
        // Every metric says what it is and in which unit.
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined()  // after the HTTP headers
        let lines = body.split(separator: "\n")
        let unexplained = lines.indices.filter { lines[$0].hasPrefix("# TYPE ") }.filter { index in
            let name = lines[index].split(separator: " ")[2]
            return index == 0 || !lines[index - 1].hasPrefix("# HELP \(name) ") || !lines[index - 1].hasSuffix(").")
        }
        #expect(unexplained.isEmpty, "no HELP ending in its unit: \(unexplained.map { lines[$0] })")
        // Probes: the process is up; a primary taking writes is ready.
        #expect(try Self.get("/healthz", port: server.metricsPort).hasPrefix("HTTP/1.1 200"))
        let ready = try Self.get("/readyz", port: server.metricsPort)
        #expect(ready.hasPrefix("HTTP/1.1 200") && ready.hasSuffix("primary: takes writes\n"), "\(ready)")
        #expect(try Self.get("/nothing", port: server.metricsPort).hasPrefix("HTTP/1.1 404"))
        #expect(server.stop() == 0)
    }
}

extension ServerEndToEndTests {
    /// GET `path` from the metrics endpoint: the whole HTTP response.
    static func get(_ path: String, port: Int) throws -> String {
        let http = try Connection(port: port)
        http.send(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        var text = ""
        while let chunk = http.receiveSome() { text += String(decoding: chunk, as: UTF8.self) }
        return text
    }

    /// A header rebuilt with a valid CRC (so the field under test is what is refused).
    static func header(version: UInt16 = 1, operation: UInt16, requestID: UInt64, bodyBytes: UInt32) -> [UInt8] {
        var out = Array("LDGP".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(version)
        put(operation)
        put(requestID)
        put(bodyBytes)
        put(UInt32(0))
        put(UInt16(0))
        put(UInt16(0))
        put(Checksum.mask(out.withUnsafeBytes { Checksum.crc32c($0) }))
        return out
    }

    /// The statuses the other tests do not reach: unknownOperation,
    /// unsupportedVersion (frame and hello), frameTooLarge, tooManyInFlight.
    /// Each refused request changed nothing.
    @Test func remainingStatusesAreSentAsSpecified() throws {
        let server = try RunningServer()
        let c = try Connection(port: server.port)
        #expect(try c.hello(secret: server.secret).header.status == 0)
        #expect(
            try ResultsBody.decode(try c.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [.ok, .ok])
        // Unknown operation: refused, the connection stays.
        c.send(Frame.encode(operation: 99, requestID: 3, body: []))
        #expect(try c.reply()?.header.status == ProtocolStatus.unknownOperation.rawValue)
        #expect(try c.request(.status, 4, []).header.status == 0, "still open after unknownOperation")

        // More than inFlightMax (16 here) submissions in one write: the excess is refused, not applied.
        var burst: [UInt8] = []
        for i in 0..<40 {
            burst += Frame.encode(
                operation: ProtocolOperation.submitEntries.rawValue, requestID: UInt64(100 + i),
                body: EventBatchBody.encode(EventBatch([transfer(UInt128(1_000 + i), from: 1, to: 2, 1)])))
        }
        c.send(burst)
        var accepted: [UInt128] = []
        var refused: [UInt128] = []
        for _ in 0..<40 {
            let reply = try #require(try c.reply())
            let id = UInt128(reply.header.requestID - 100 + 1_000)
            if reply.header.status == 0 { accepted.append(id) } else if reply.header.status == ProtocolStatus.tooManyInFlight.rawValue { refused.append(id) }
        }
        #expect(accepted.count + refused.count == 40 && !refused.isEmpty && accepted.count >= 16, "accepted \(accepted.count), refused \(refused.count)")
        let rows = try EntryListBody.decode(try c.request(.lookupEntries, 200, IDListBody.encode(accepted + refused)).body, count: 40)
        #expect(rows.prefix(accepted.count).allSatisfy { $0 != nil } && rows.suffix(refused.count).allSatisfy { $0 == nil })
        let account = try AccountListBody.decode(try c.request(.lookupAccounts, 201, IDListBody.encode([1])).body, count: 1)
        #expect(account[0]?.debitsPosted == UInt128(accepted.count))

        // A frame of protocol version 3 (no such version): unsupportedVersion, closed.
        let v2 = try Connection(port: server.port)
        v2.send(Self.header(version: 3, operation: 1, requestID: 77, bodyBytes: 0))
        let v2Reply = try #require(try v2.reply())
        #expect(v2Reply.header.status == ProtocolStatus.unsupportedVersion.rawValue)
        // The header was readable: its operation and request id are echoed.
        #expect(v2Reply.header.operation == 1 && v2Reply.header.requestID == 77, "\(v2Reply.header)")
        #expect(try v2.reply() == nil)
        // A hello that speaks only versions 3...4: unsupportedVersion, closed.
        let future = try Connection(port: server.port)
        let hello = try future.request(.hello, 1, HelloRequest(versions: 3...4, keyID: "dev", secret: server.secret).encoded())
        #expect(hello.header.status == ProtocolStatus.unsupportedVersion.rawValue)
        #expect(try future.reply() == nil)
        // A well-formed header announcing a body over the limit: frameTooLarge, closed, the body never awaited.
        let large = try Connection(port: server.port)
        #expect(try large.hello(secret: server.secret).header.status == 0)
        large.send(Self.header(operation: 3, requestID: 9, bodyBytes: UInt32(ProtocolFormat.frameBodyBytesMax + 1)))
        let largeReply = try #require(try large.reply())
        #expect(largeReply.header.status == ProtocolStatus.frameTooLarge.rawValue)
        #expect(largeReply.header.operation == 3 && largeReply.header.requestID == 9, "\(largeReply.header)")
        #expect(try large.reply() == nil)
        #expect(try c.request(.status, 202, []).header.status == 0, "the first client is still served")
        // A request whose status field is not 0: malformedBody, nothing applied, the connection stays.
        c.send(
            Frame.encode(
                operation: ProtocolOperation.submitEntries.rawValue, requestID: 203,
                body: EventBatchBody.encode(EventBatch([transfer(9_999, from: 1, to: 2, 1)])),
                status: .busy))
        let statusReply = try #require(try c.reply())
        #expect(statusReply.header.status == ProtocolStatus.malformedBody.rawValue && statusReply.header.requestID == 203)
        #expect(try EntryListBody.decode(try c.request(.lookupEntries, 204, IDListBody.encode([9_999])).body, count: 1) == [nil])
        #expect(server.stop() == 0)
    }
}

extension ServerEndToEndTests {
    /// SIGTERM with large batches in flight: every request sent gets its
    /// reply (ok, or shuttingDown for those read after the stop began)
    /// before the connection closes, the server exits 0, and after a
    /// restart exactly the batches answered ok are there.
    @Test func sigtermAnswersEveryAcceptedRequestBeforeClosing() throws {
        let server = try RunningServer()
        let c = try Connection(port: server.port)
        #expect(try c.hello(secret: server.secret).header.status == 0)
        #expect(
            try ResultsBody.decode(try c.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [.ok, .ok])
        let batches = 8
        var frames: [UInt8] = []
        for b in 0..<batches {
            let events = (0..<Limits.batchEventsMax).map { transfer(UInt128(1_000_000 * (b + 1) + $0), from: 1, to: 2, 1) }
            frames += Frame.encode(
                operation: ProtocolOperation.submitEntries.rawValue, requestID: UInt64(10 + b), body: EventBatchBody.encode(EventBatch(events)))
        }
        let sender = LedgerEngine.Thread { c.send(frames) }
        sender.start()
        let first = try #require(try c.reply())
        server.process.terminate()  // SIGTERM while the rest are in flight
        var statuses: [UInt64: UInt16] = [first.header.requestID: first.header.status]
        while let reply = try c.reply() { statuses[reply.header.requestID] = reply.header.status }
        #expect(statuses.count == batches, "\(batches - statuses.count) requests were never answered")
        #expect(statuses.values.allSatisfy { $0 == 0 || $0 == ProtocolStatus.shuttingDown.rawValue })
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)

        let again = try RunningServer(directory: server.directory, secret: server.secret)
        let check = try Connection(port: again.port)
        #expect(try check.hello(secret: again.secret).header.status == 0)
        let okBatches = statuses.values.filter { $0 == 0 }.count
        let account = try AccountListBody.decode(try check.request(.lookupAccounts, 2, IDListBody.encode([1])).body, count: 1)
        #expect(account[0]?.debitsPosted == UInt128(okBatches * Limits.batchEventsMax), "balances hold exactly the batches answered ok")
        #expect(again.stop() == 0)
    }
}

extension ServerEndToEndTests {
    /// Concurrent requests from several connections, which the server may
    /// join into one engine batch: each reply carries exactly its own
    /// request's results, in order, and balances count exactly the ok ones.
    @Test func concurrentRequestsFromManyConnectionsGetTheirOwnResults() throws {
        let server = try RunningServer()
        let setup = try Connection(port: server.port)
        #expect(try setup.hello(secret: server.secret).header.status == 0)
        #expect(
            try ResultsBody.decode(try setup.request(.createAccounts, 2, EventBatchBody.encode(EventBatch([usd(1), usd(2)]))).body, eventCount: 2) == [
                .ok, .ok,
            ])
        #expect(
            try ResultsBody.decode(
                try setup.request(.submitEntries, 3, EventBatchBody.encode(EventBatch([transfer(7, from: 1, to: 2, 1)]))).body, eventCount: 1) == [.ok])
        let connections = try (0..<4).map { _ in try Connection(port: server.port) }
        for c in connections { #expect(try c.hello(secret: server.secret).header.status == 0) }
        // Request (c, i): three entries; the expected results depend on (c + i) % 3.
        func request(_ c: Int, _ i: Int) -> (EventBatch, [ResultCode]) {
            let base = UInt128(100_000 * (c + 1) + 10 * i)
            switch (c + i) % 3 {
            case 0:
                return (
                    EventBatch([transfer(base, from: 1, to: 2, 1), transfer(base + 1, from: 1, to: 99, 1), transfer(base + 2, from: 1, to: 2, 1)]),
                    [.ok, .accountNotFound, .ok]
                )
            case 1:
                return (
                    EventBatch([transfer(7, from: 1, to: 2, 1), transfer(base, from: 1, to: 2, 1), transfer(base, from: 1, to: 2, 1)]), [.exists, .ok, .exists]
                )
            default:
                return (
                    EventBatch([transfer(base, from: 1, to: 2, 1), transfer(base + 1, from: 1, to: 2, 1), transfer(base + 2, from: 1, to: 2, 2)]),
                    [.ok, .ok, .ok]
                )
            }
        }
        let perConnection = 12  // within --in-flight-max 16
        var frames = [[UInt8]](repeating: [], count: connections.count)
        var expectedOK = 0
        for c in 0..<connections.count {
            for i in 0..<perConnection {
                let (batch, results) = request(c, i)
                frames[c] += Frame.encode(operation: ProtocolOperation.submitEntries.rawValue, requestID: UInt64(1_000 + i), body: EventBatchBody.encode(batch))
                expectedOK += zip(batch.events(), results).reduce(0) { sum, pair in
                    guard pair.1 == .ok, case .createEntry(let e) = pair.0 else { return sum }
                    return sum + Int(e.postings[0].amount)
                }
            }
        }
        for (c, connection) in connections.enumerated() { connection.send(frames[c]) }
        for (c, connection) in connections.enumerated() {
            for _ in 0..<perConnection {
                let reply = try #require(try connection.reply())
                let i = Int(reply.header.requestID) - 1_000
                #expect(reply.header.status == 0)
                #expect(try ResultsBody.decode(reply.body, eventCount: 3) == request(c, i).1, "connection \(c) request \(i)")
            }
        }
        let accounts = try AccountListBody.decode(try setup.request(.lookupAccounts, 4, IDListBody.encode([1])).body, count: 1)
        #expect(accounts[0]?.debitsPosted == UInt128(expectedOK + 1))
        // They were joined: fewer engine batches than requests.
        let http = try Connection(port: server.metricsPort)
        http.send(Array("GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        var text = ""
        while let chunk = http.receiveSome() { text += String(decoding: chunk, as: UTF8.self) }
        let value = { (name: String) in text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? -1 }
        let requests = value("ledger_requests_committed_total")
        let batches = value("ledger_engine_batches_total")
        #expect(requests == 2 + connections.count * perConnection && batches > 0 && batches < requests, "\(requests) requests in \(batches) engine batches")
        #expect(server.stop() == 0)
    }
}

enum APIKeysHex {
    static func bytes(_ text: String) -> [UInt8] {
        let chars = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        return stride(from: 0, to: chars.count - 1, by: 2).compactMap { UInt8(String(decoding: chars[$0..<($0 + 2)], as: UTF8.self), radix: 16) }
    }
}
