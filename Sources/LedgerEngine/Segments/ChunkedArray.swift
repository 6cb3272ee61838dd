// An append-only array kept in chunks of `chunkLength` elements: growing it
// never copies what it holds.
//
// Why: the open month's per-event arrays (records, entry ids and offsets;
// `EventArray`) were Swift arrays, which double and copy everything into
// fresh pages when full. In a directory's first month (nothing to size it
// from) and in a month 25% larger than the one before, the three doubled
// together at millions of events on the filing thread: 0.7 s under `perf`
// (`MonthIndexBuilder.add` → memmove → page faults), 1.5–2.4 s without,
// while every group waited behind it (Benchmarks/RESULTS.md, issue 13,
// session 15). Here an append writes into the last chunk and a full chunk
// is followed by a new one; the table of chunks is small (256 entries for
// 16M elements).
//
// A value type: a copy (a query's) shares the chunks until either side
// writes, like any Swift array.

struct ChunkedArray<Element> {
    static var chunkShift: Int { 16 }
    static var chunkLength: Int { 1 << chunkShift }
    private var chunks: [[Element]] = []
    private(set) var count = 0

    init() {}

    @inline(__always)
    subscript(i: Int) -> Element {
        get {
            precondition(i >= 0 && i < count, "element \(i) of \(count)")
            return chunks[i >> Self.chunkShift][i & (Self.chunkLength - 1)]
        }
        set {
            precondition(i >= 0 && i < count, "element \(i) of \(count)")
            chunks[i >> Self.chunkShift][i & (Self.chunkLength - 1)] = newValue
        }
    }

    mutating func append(_ element: Element) {
        if count & (Self.chunkLength - 1) == 0 {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkLength)
            chunks.append(chunk)
        }
        // In place: the chunk is uniquely referenced unless a copy shares it.
        chunks[chunks.count - 1].append(element)
        count += 1
        assert(chunks.count == (count + Self.chunkLength - 1) >> Self.chunkShift, "chunk table out of step")
    }

    /// Room in the table of chunks for `n` elements (the chunks themselves
    /// are allocated as they fill).
    mutating func reserveCapacity(_ n: Int) { chunks.reserveCapacity((n + Self.chunkLength - 1) >> Self.chunkShift) }

    /// Elements the chunk table has room for without growing.
    var capacity: Int { chunks.capacity << Self.chunkShift }
}
