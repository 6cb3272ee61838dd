// LedgerLoad: drives a running LedgerServer over loopback and reports
// throughput and latency percentiles (HdrHistogram, microseconds).
//
// Closed loop (default): each of `--connections` connections keeps
// `--in-flight` requests of `--batch` two-posting entries outstanding.
// Open loop (`--rate R`): requests are started on a fixed schedule of R
// entries/s over all connections, whether or not earlier ones finished, and
// latency is measured from the *scheduled* start (no coordinated omission).
import ArgumentParser
import BenchmarkSupport
import Foundation
import Histogram
import LedgerClient
import LedgerEngine
import LedgerProtocol

@main
struct LedgerLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load generator for LedgerServer (Benchmarks/RESULTS.md).",
        version: "LedgerLoad \(BuildInfo.version)\nprotocol: \(ProtocolFormat.versions.lowerBound)...\(ProtocolFormat.versions.upperBound)")

    @Option var host = "127.0.0.1"
    @Option var port = ProtocolFormat.defaultPort
    @Option var keyID = "dev"
    @Option(help: "The key's secret, hex.") var secret: String
    @Option var connections = 1
    @Option(help: "Entries per request (1...8189).") var batch = 8_189
    @Option(help: "Requests outstanding per connection (closed loop).") var inFlight = 1
    @Option(help: "Accounts (created at start if missing), ids 1...N.") var accounts = 10_000
    @Option(help: "0: uniform over all accounts; H: every entry debits and credits among the first H accounts.") var hot = 0
    @Option(help: "Seconds of measured load (after a 1 s warm-up).") var seconds = 10.0
    @Option(help: "Open loop: offered entries per second over all connections.") var rate: Double?
    @Option(help: "Output label.") var label = ""
    @Option(help: "Instead of load: open this many authenticated connections, hold them for --seconds, and report the server's RSS (--server-pid).")
    var holdConnections: Int?
    @Option(help: "The server's pid, for --hold-connections.") var serverPID: Int32?
    @Flag(help: "Closed loop on blocking sockets, one thread per connection, one request in flight (RawLoad.swift), not LedgerClient.") var raw = false

    mutating func run() async throws {
        let secretBytes = stride(from: 0, to: secret.count, by: 2).map { i -> UInt8 in
            let a = secret.index(secret.startIndex, offsetBy: i)
            return UInt8(secret[a..<secret.index(a, offsetBy: 2)], radix: 16)!
        }
        var configuration = LedgerClientConfiguration(host: host, port: port, keyID: keyID, secret: secretBytes)
        configuration.deadlineMs = 60_000
        if let holdConnections {
            return try await hold(holdConnections, configuration)
        }
        let clients = (0..<connections).map { _ in LedgerClient(configuration) }
        try await createAccounts(clients[0])
        let prefix = UInt128(UInt64.random(in: 1...UInt64.max)) << 64
        let run = Run(batch: batch, accounts: accounts, hot: hot, prefix: prefix)
        let (counted, histogram, elapsedNs): (Int, Histogram<UInt64>, UInt64)
        if raw {
            guard rate == nil, inFlight == 1 else { throw ValidationError("--raw is a closed loop with one request in flight per connection") }
            (counted, histogram, elapsedNs) = try RawLoad.run(
                port: port, keyID: keyID, secret: secretBytes, connections: connections, run: run, seconds: seconds)
        } else if let rate {
            (counted, histogram, elapsedNs) = try await run.openLoop(clients, rate: rate, seconds: seconds)
        } else {
            (counted, histogram, elapsedNs) = try await run.closedLoop(clients, inFlight: inFlight, seconds: seconds)
        }
        let perSecond = Double(counted) / (Double(elapsedNs) / 1e9)
        let p = { (q: Double) in String(format: "%.2f", Double(histogram.valueAtPercentile(q)) / 1_000) }
        print(
            "\(label.isEmpty ? "" : label + ": ")connections \(connections) batch \(batch) in-flight \(inFlight) hot \(hot) \(rate.map { "offered \(Int($0))/s " } ?? "")"
                + "entries/s \(Int(perSecond)) requests \(histogram.totalCount) latency ms p50 \(p(50)) p99 \(p(99)) p99.9 \(p(99.9)) max \(String(format: "%.2f", Double(histogram.max) / 1_000))"
        )
        for client in clients { await client.close() }
    }

    /// Opens `count` connections (each handshaken with a `status` call) and
    /// reports the server's resident memory before and with them open.
    func hold(_ count: Int, _ configuration: LedgerClientConfiguration) async throws {
        let rss = { () -> Int in
            guard let pid = serverPID, let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
            let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        let before = rss()
        var clients: [LedgerClient] = []
        for start in stride(from: 0, to: count, by: 500) {
            let chunk = (start..<min(start + 500, count)).map { _ in LedgerClient(configuration) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for client in chunk { group.addTask { _ = try await client.status() } }
                try await group.waitForAll()
            }
            clients += chunk
        }
        let status = try await clients[0].status()
        try await Task.sleep(for: .seconds(seconds))
        let after = rss()
        print(
            "\(label.isEmpty ? "" : label + ": ")held \(count) connections (server counts \(status.connections)); server RSS \(before >> 20) MiB before, \(after >> 20) MiB with them open: \((after - before) / max(count, 1)) bytes per connection"
        )
        for client in clients { await client.close() }
    }

    func createAccounts(_ client: LedgerClient) async throws {
        var id = 1
        while id <= accounts {
            let chunk = (id..<min(id + Limits.batchEventsMax, accounts + 1)).map { NewAccount(id: UInt128($0), ledger: 840, code: 1) }
            let results = try await client.createAccounts(chunk)
            guard results.allSatisfy({ $0 == .ok || $0 == .exists }) else { throw ValidationError("account creation: \(Set(results))") }
            id += chunk.count
        }
    }
}

/// One measured run; every entry id is fresh (prefix | counter).
struct Run: Sendable {
    let batch: Int
    let accounts: Int
    let hot: Int
    let prefix: UInt128

    /// A request of `batch` two-posting entries; `sequence` makes ids unique.
    func request(_ sequence: Int, _ rng: inout FastRandom) -> EventBatch {
        var events = EventBatch()
        events.bytes.reserveCapacity(batch * 144)
        let pool = hot > 0 ? hot : accounts
        for i in 0..<batch {
            let debit = Int.random(in: 1...pool, using: &rng)
            var credit = Int.random(in: 1...(pool - 1), using: &rng)
            if credit >= debit { credit += 1 }
            events.append(NewEntry(id: prefix | UInt128(sequence * batch + i), postings: [.debit(UInt128(debit), 1), .credit(UInt128(credit), 1)]))
        }
        return events
    }

    static func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// An empty latency histogram: microseconds, up to 60 s, 3 significant digits.
    static func latencyHistogram() -> Histogram<UInt64> { Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three) }

    /// Sums the lanes' entries and merges their histograms.
    static func merged(_ lanes: inout ThrowingTaskGroup<(Int, Histogram<UInt64>), any Error>) async throws -> (Int, Histogram<UInt64>) {
        var total = 0
        var merged = latencyHistogram()
        for try await (entries, histogram) in lanes {
            total += entries
            merged.add(histogram)
        }
        return (total, merged)
    }

    func closedLoop(_ clients: [LedgerClient], inFlight: Int, seconds: Double) async throws -> (Int, Histogram<UInt64>, UInt64) {
        let warmupEndNs = Self.nowNs() + 1_000_000_000
        let endNs = warmupEndNs + UInt64(seconds * 1e9)
        let lanes = clients.count * inFlight
        return try await withThrowingTaskGroup(of: (Int, Histogram<UInt64>).self) { group in
            for lane in 0..<lanes {
                let client = clients[lane % clients.count]
                group.addTask {
                    var rng = FastRandom()
                    var histogram = Self.latencyHistogram()
                    var entries = 0
                    var sequence = lane
                    var events = request(sequence, &rng)
                    while true {
                        sequence += lanes
                        let startNs = Self.nowNs()
                        if startNs >= endNs { break }
                        // The next request is built while this one is in
                        // flight, as a client with work queued would.
                        let sending = events
                        async let submitted = client.submit(batch: sending)
                        events = request(sequence, &rng)
                        let results = try await submitted
                        guard results.allSatisfy({ $0 == .ok }) else { throw ValidationError("results \(Set(results))") }
                        if startNs >= warmupEndNs {
                            _ = histogram.record((Self.nowNs() - startNs) / 1_000)
                            entries += results.count
                        }
                    }
                    return (entries, histogram)
                }
            }
            let (total, merged) = try await Self.merged(&group)
            return (total, merged, endNs - warmupEndNs)
        }
    }

    func openLoop(_ clients: [LedgerClient], rate: Double, seconds: Double) async throws -> (Int, Histogram<UInt64>, UInt64) {
        let requestsPerSecond = rate / Double(batch)
        let intervalNs = UInt64(1e9 / requestsPerSecond * Double(clients.count))  // per connection
        let startNs = Self.nowNs() + 200_000_000
        let warmupEndNs = startNs + 1_000_000_000
        let endNs = warmupEndNs + UInt64(seconds * 1e9)
        return try await withThrowingTaskGroup(of: (Int, Histogram<UInt64>).self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    // Connections are staggered across one interval.
                    var scheduledNs = startNs + intervalNs * UInt64(index) / UInt64(clients.count)
                    var sequence = index
                    return try await withThrowingTaskGroup(of: (Int, UInt64)?.self) { requests in
                        var rng = FastRandom()
                        while scheduledNs < endNs {
                            let now = Self.nowNs()
                            if scheduledNs > now { try await Task.sleep(nanoseconds: scheduledNs - now) }
                            let events = request(sequence, &rng)
                            sequence += clients.count
                            let scheduled = scheduledNs
                            requests.addTask {
                                let results = try await client.submit(batch: events)
                                guard results.allSatisfy({ $0 == .ok }) else { throw ValidationError("results \(Set(results))") }
                                return scheduled >= warmupEndNs ? (results.count, Self.nowNs() - scheduled) : nil
                            }
                            scheduledNs += intervalNs
                        }
                        var histogram = Self.latencyHistogram()
                        var entries = 0
                        for try await outcome in requests {
                            guard let (count, latencyNs) = outcome else { continue }
                            entries += count
                            _ = histogram.record(latencyNs / 1_000)
                        }
                        return (entries, histogram)
                    }
                }
            }
            let (total, merged) = try await Self.merged(&group)
            return (total, merged, endNs - warmupEndNs)
        }
    }
}
