// A deterministic 56-bit fingerprint of an event's bytes, used to tell
// `exists` from `existsWithDifferentFields` without keeping every entry in
// memory. It must never change so that equal events compare unequal: the
// WAL replays rebuild fingerprints, and such a change would make old
// duplicates answer `existsWithDifferentFields` (never lose money, but
// answers must stay identical across versions). Events are canonical
// (reserved bytes and padding are zero), so equal client fields give equal
// bytes. Mixing follows the xxHash64 round and avalanche; the fingerprint is
// the low 56 bits of the result, so an entry record holds it with its kind
// and hold state in one word and an entry-table bucket is 32 bytes, not 40
// (issue 13, session 13; snapshot format 5). Masking keeps every equal pair
// equal, so no answer changes; a reused id with different content is told
// `exists` with probability 2^-56 instead of 2^-64.
public enum Fingerprint {
    public static let bits = 56
    public static let mask: UInt64 = 1 << 56 - 1
    @usableFromInline static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    @usableFromInline static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    @usableFromInline static let prime3: UInt64 = 0x1656_67B1_9E37_79F9

    /// Fingerprint of `count` bytes at `offset`; `count` is a multiple of 8
    /// (every event is), asserted.
    @inlinable
    public static func of(_ p: UnsafeRawBufferPointer, offset: Int, count: Int) -> UInt64 {
        assert(count % 8 == 0, "event size \(count) is not 8-byte aligned")
        var hash = prime3 &+ UInt64(count)
        var o = offset
        let end = offset + count
        while o < end {
            var word = _LE.u64(p, o) &* prime2
            word = (word << 31 | word >> 33) &* prime1
            hash ^= word
            hash = (hash << 27 | hash >> 37) &* prime1 &+ prime3
            o += 8
        }
        hash ^= hash >> 33
        hash = hash &* prime2
        hash ^= hash >> 29
        hash = hash &* prime3
        hash ^= hash >> 32
        return hash & mask
    }
}
