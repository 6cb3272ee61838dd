// Many growing lists (one per account touched in the open month) kept in a
// few shared pages instead of one heap array per list.
//
// Why: filing appends to two random accounts' lists per entry. With one
// Swift array per account, every append first loads that array's header
// (its reference count, for the copy-on-write check) from a line no other
// account shares; at 10,000 accounts those loads missed the cache and were
// 12-14% of the server's samples at batch 8,189 (`perf annotate` of
// `swift_isUniquelyReferenced_nonNull_native`: 97% on the load of the
// count; Benchmarks/RESULTS.md, issue 13). Here an append reads two dense
// per-list integers and writes one element; the pages' headers are few and
// stay cached. A list is a chain of chunks whose lengths double from
// `firstChunkLength` up to `chunkLengthMax`, so a list's i-th element is
// found by arithmetic (no walk) and a list of one element costs
// `firstChunkLength` slots, not a page. `chunkLengthMax` is small (256) so
// a long list's unused room is at most 255 slots: with 4,096 the 10,000
// lists of a month of 4M events held 2.4× the slots they used (issue 13,
// target 4).
//
// A value type: a copy (a query's) shares the pages until either side
// writes, like any Swift array.

struct ChunkedLists<Element> {
    static var firstChunkLength: Int { 4 }
    static var chunkLengthMax: Int { 256 }
    /// Pages grow from this many elements to `pageLengthMax`, so a month
    /// with few events does not allocate megabytes.
    static var firstPageLength: Int { 1_024 }
    static var pageLengthMax: Int { 1 << 16 }
    /// Chunks below `chunkLengthMax`: log2(chunkLengthMax / firstChunkLength).
    static var geometricChunks: Int { 6 }
    /// Elements in the geometric chunks together.
    static var geometricElements: Int { firstChunkLength * ((1 << geometricChunks) - 1) }

    private let filler: Element
    private(set) var pages: [[Element]] = []
    /// Elements handed out in the last page.
    private var lastPageUsed = 0
    /// Per list: its length, and the position of its next element within
    /// its last chunk (valid while that chunk has room).
    private(set) var counts: [Int] = []
    private(set) var nextPositions: [Position] = []
    /// Per list: the position of each chunk's first element.
    private(set) var chunkStarts: [[Position]] = []

    /// A page number (high 32 bits) and an offset in it.
    typealias Position = Int

    /// `filler` fills pages where no element has been written yet.
    init(filler: Element) {
        assert(Self.firstChunkLength << Self.geometricChunks == Self.chunkLengthMax, "chunk lengths do not meet")
        assert(Self.chunkLengthMax <= Self.pageLengthMax, "a chunk must fit in a page")
        self.filler = filler
    }

    var listCount: Int { counts.count }

    func count(_ list: Int) -> Int { counts[list] }

    /// Adds an empty list; returns its number.
    mutating func addList() -> Int {
        counts.append(0)
        nextPositions.append(0)
        chunkStarts.append([])
        return counts.count - 1
    }

    mutating func append(_ element: Element, to list: Int) {
        let index = counts[list]
        var position = nextPositions[list]
        let (chunk, offset) = Self.locate(index)
        if offset == 0 {
            assert(chunkStarts[list].count == chunk, "list \(list) has \(chunkStarts[list].count) chunks, expected \(chunk)")
            position = allocateChunk(length: Self.chunkLength(chunk))
            chunkStarts[list].append(position)
        }
        pages[position >> 32][position & 0xFFFF_FFFF] = element
        nextPositions[list] = position + 1
        counts[list] = index + 1
    }

    subscript(list: Int, index: Int) -> Element {
        precondition(index >= 0 && index < counts[list], "element \(index) of a list of \(counts[list])")
        let (chunk, offset) = Self.locate(index)
        let position = chunkStarts[list][chunk] + offset
        return pages[position >> 32][position & 0xFFFF_FFFF]
    }

    /// The list's elements in `range`, copied.
    func elements(_ list: Int, _ range: Range<Int>) -> [Element] {
        precondition(range.lowerBound >= 0 && range.upperBound <= counts[list], "range \(range) of a list of \(counts[list])")
        var result: [Element] = []
        result.reserveCapacity(range.count)
        var index = range.lowerBound
        while index < range.upperBound {
            // One chunk's run at a time.
            let (chunk, offset) = Self.locate(index)
            let run = min(Self.chunkLength(chunk) - offset, range.upperBound - index)
            let position = chunkStarts[list][chunk] + offset
            let page = position >> 32
            let start = position & 0xFFFF_FFFF
            result.append(contentsOf: pages[page][start..<(start + run)])
            index += run
        }
        return result
    }

    /// The chunk holding a list's `index`-th element, and the offset in it.
    static func locate(_ index: Int) -> (chunk: Int, offset: Int) {
        if index < geometricElements {
            // Chunk k starts at firstChunkLength × (2^k − 1).
            let q = index / firstChunkLength + 1
            let chunk = Int.bitWidth - 1 - q.leadingZeroBitCount
            return (chunk, index - firstChunkLength * ((1 << chunk) - 1))
        }
        let beyond = index - geometricElements
        return (geometricChunks + beyond / chunkLengthMax, beyond % chunkLengthMax)
    }

    static func chunkLength(_ chunk: Int) -> Int { chunk < geometricChunks ? firstChunkLength << chunk : chunkLengthMax }

    /// A run of `length` free elements in one page; a new page when the last
    /// one has too little room left (its rest stays unused).
    private mutating func allocateChunk(length: Int) -> Position {
        if pages.isEmpty || lastPageUsed + length > pages[pages.count - 1].count {
            let pageLength = max(length, min(Self.pageLengthMax, pages.isEmpty ? Self.firstPageLength : 2 * pages[pages.count - 1].count))
            precondition(pages.count < Int(UInt32.max), "too many pages")
            pages.append(Array(repeating: filler, count: pageLength))
            lastPageUsed = 0
        }
        let position = (pages.count - 1) << 32 | lastPageUsed
        lastPageUsed += length
        return position
    }
}
