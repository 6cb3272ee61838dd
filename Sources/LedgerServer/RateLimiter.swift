// Per-key token buckets: a key with a rate of R events per second holds at
// most max(R, one full batch) tokens, refilled continuously at R per second;
// a batch takes one token per event or is refused whole (`rateLimited`), so
// a refused request changed nothing. A bucket is never shallower than the
// largest request (`Limits.batchEventsMax` events): otherwise a request
// larger than R would be refused forever and a client retrying
// `rateLimited`, as it should, would wait out its deadline. Shared by all
// connections of a key.
import Dispatch
import LedgerEngine

final class RateLimiter: @unchecked Sendable {
    private struct Bucket {
        var tokens: Double
        var updatedNs: UInt64
    }

    private let lock = ConditionLock()
    private var buckets: [String: Bucket] = [:]
    private let now: @Sendable () -> UInt64

    init(now: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) { self.now = now }

    /// Takes `events` tokens from the key's bucket (rate `perSecond`; 0 is
    /// unlimited); false when there are not enough.
    func take(_ events: Int, keyID: String, perSecond: Int) -> Bool {
        guard perSecond > 0 else { return true }
        return lock.withLock {
            let t = now()
            let depth = Double(max(perSecond, Limits.batchEventsMax))
            var bucket = buckets[keyID] ?? Bucket(tokens: Double(perSecond), updatedNs: t)
            bucket.tokens = min(depth, bucket.tokens + Double(t - bucket.updatedNs) / 1e9 * Double(perSecond))
            bucket.updatedNs = t
            let granted = bucket.tokens >= Double(events)
            if granted { bucket.tokens -= Double(events) }
            buckets[keyID] = bucket
            return granted
        }
    }
}
