// SHA-256 of a stream on a thread of its own: the caller hands it chunks it
// has read (arrays it no longer changes) and asks for the digest at the end.
//
// Why: a restart's main thread hashed the snapshot body (~380 MB at 50M
// entries, ~0.3 s) in line with decoding it, while the other core sat idle
// once the open month was indexed (Benchmarks/RESULTS.md, issue 13, target
// 3, session 14). The digest is still compared before the loaded state is
// used, so nothing is trusted earlier than before.
//
// At most `chunksInFlightMax` chunks wait (the caller blocks beyond), so a
// fast reader does not hold the whole stream in memory.

final class BackgroundSHA256: @unchecked Sendable {
    static let chunksInFlightMax = 8

    /// What the hashing thread shares with the caller.
    private final class Shared: @unchecked Sendable {
        let lock = ConditionLock()
        var queue: [[UInt8]] = []
        var ending = false
        let hasher = SHA256Hasher()

        func run() {
            while let chunk = next() { chunk.withUnsafeBytes { hasher.update($0) } }
        }

        private func next() -> [UInt8]? {
            lock.withLock {
                while queue.isEmpty && !ending { lock.wait() }
                guard !queue.isEmpty else { return nil }
                lock.broadcast()
                return queue.removeFirst()
            }
        }
    }

    private let shared = Shared()
    private let thread: Thread
    private var joined = false

    init() {
        let shared = shared
        thread = Thread { shared.run() }
        thread.start()
    }

    /// Hashes `chunk` after every chunk handed before it.
    func update(_ chunk: [UInt8]) {
        precondition(!joined, "update after finish")
        shared.lock.withLock {
            while shared.queue.count >= Self.chunksInFlightMax { shared.lock.wait() }
            shared.queue.append(chunk)
            shared.lock.broadcast()
        }
    }

    /// The digest of every chunk handed; the hasher must not be used after.
    func finish() -> [UInt8] {
        stop()
        return shared.hasher.finish()
    }

    /// Lets the thread end once the queue is empty, and waits for it.
    private func stop() {
        guard !joined else { return }
        shared.lock.withLock {
            shared.ending = true
            shared.lock.broadcast()
        }
        thread.join()
        joined = true
    }

    // A load that throws half way drops its reader: the thread still ends.
    deinit { stop() }
}
