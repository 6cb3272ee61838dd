// The open month's per-event arrays (records, entry ids, entry offsets) when
// the month was opened from its saved index (Specs/open-month-index-format.md):
// the saved part is read in place from the file's mapping, the events filed
// since are held in memory.
//
// Why: decoded, those three arrays were ~200 MB of the process's own memory
// at 4.2M events (issue 13, target 4); mapped, they are page-cache pages the
// kernel can drop and read again (`SavedIndexBytes.releaseResidentPages`
// after the open's checks). A history page reads a few records from them;
// sealing the month reads them all once.

/// The bytes of a saved open-month index, kept while a builder reads from
/// them: a mapping of the file, or a copy where storage cannot map (the
/// tests' simulated disk).
final class SavedIndexBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let mapping: (any ReadOnlyMapping)?
    private let owned: UnsafeMutableRawBufferPointer?

    /// The file's first `count` bytes (it must be that long).
    init(file: any ReadableFile, count: Int) throws {
        precondition(count > 0, "saved index of \(count) bytes")
        if try file.size() >= count, let mapping = try file.mapForReading(count: count) {
            self.mapping = mapping
            owned = nil
            bytes = mapping.bytes
        } else {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
            do {
                let got = try file.read(into: buffer, at: 0)
                guard got == count else {
                    throw LedgerError(.corruption, "file ends after \(got) bytes; expected \(count)", path: file.path, offset: got)
                }
            } catch {
                buffer.deallocate()
                throw error
            }
            mapping = nil
            owned = buffer
            bytes = UnsafeRawBufferPointer(buffer)
        }
    }

    deinit {
        mapping?.unmap()
        owned?.deallocate()
    }

    /// After the open's checks read every page: no longer resident in this
    /// process (still in the page cache).
    func releaseResidentPages() { mapping?.releaseResidentPages() }

    var isMapped: Bool { mapping != nil }
}

/// An element a saved index stores at a fixed size, little-endian: its
/// reader (`load`) and writer (`store`) side by side.
protocol SavedElement {
    static var savedBytes: Int { get }
    static func load(_ p: UnsafeRawBufferPointer, _ offset: Int) -> Self
    func store(_ p: UnsafeMutableRawBufferPointer, _ offset: Int)
}

extension AccountEventRef: SavedElement {
    static var savedBytes: Int { OpenMonthIndexFormat.recordBytes }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self {
        AccountEventRef(timestamp: _LE.u64(p, o), offset: _LE.u64(p, o + 8), pendingPosition: SegmentPosition(rawValue: _LE.u64(p, o + 16)))
    }
    func store(_ p: UnsafeMutableRawBufferPointer, _ o: Int) {
        _LE.put(p, o, timestamp)
        _LE.put(p, o + 8, offset)
        _LE.put(p, o + 16, pendingPosition.rawValue)
    }
}

extension UInt128: SavedElement {
    static var savedBytes: Int { OpenMonthIndexFormat.entryIDBytes }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self { _LE.u128(p, o) }
    func store(_ p: UnsafeMutableRawBufferPointer, _ o: Int) { _LE.put(p, o, self) }
}

extension UInt64: SavedElement {
    static var savedBytes: Int { OpenMonthIndexFormat.entryOffsetBytes }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self { _LE.u64(p, o) }
    func store(_ p: UnsafeMutableRawBufferPointer, _ o: Int) { _LE.put(p, o, self) }
}

/// An append-only array whose first `savedCount` elements are a section of
/// a saved index (read in place) and whose others are in memory. Only the
/// in-memory part can change.
struct EventArray<Element: SavedElement>: RandomAccessCollection {
    private var saved: SavedIndexBytes?
    private var savedOffset = 0
    private(set) var savedCount = 0
    private(set) var tail = ChunkedArray<Element>()

    init() {}

    /// `count` elements at `offset` of `saved` (checked by the caller to lie
    /// inside it).
    init(saved: SavedIndexBytes, offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset + count * Element.savedBytes <= saved.bytes.count, "saved section out of range")
        self.saved = saved
        savedOffset = offset
        savedCount = count
    }

    var startIndex: Int { 0 }
    var endIndex: Int { savedCount + tail.count }

    subscript(i: Int) -> Element {
        get { i < savedCount ? Element.load(saved!.bytes, savedOffset + i * Element.savedBytes) : tail[i - savedCount] }
        set {
            precondition(i >= savedCount, "element \(i) of a saved index cannot change")
            tail[i - savedCount] = newValue
        }
    }

    mutating func append(_ element: Element) { tail.append(element) }

    /// Room for `n` elements in all (the in-memory part's chunk table).
    mutating func reserveCapacity(_ n: Int) { tail.reserveCapacity(Swift.max(0, n - savedCount)) }

    var capacity: Int { savedCount + tail.capacity }

    /// Bytes of this process's own memory it holds.
    var heldBytes: Int { tail.count * MemoryLayout<Element>.stride }
}

extension AccountBalances: SavedElement {
    static var savedBytes: Int { OpenMonthIndexFormat.checkpointBytes }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self { SegmentSeal.balances(p, o) }
    func store(_ p: UnsafeMutableRawBufferPointer, _ o: Int) { SegmentSeal.put(self, p, o) }
}

/// Per-account lists (an account's event refs, its checkpoints) whose first
/// elements are a run of a saved index's section (read in place) and whose
/// later ones are in `ChunkedLists`. Lists added after the open have no
/// saved part.
struct SavedLists<Element: SavedElement> {
    private var saved: SavedIndexBytes?
    /// Per list with a saved part: where it starts in `saved`, and its length.
    private var savedStarts: [Int] = []
    private var savedCounts: [Int] = []
    private(set) var tail: ChunkedLists<Element>

    init(filler: Element) { tail = ChunkedLists(filler: filler) }

    /// Lists `0..<counts.count`, list i holding `counts[i]` saved elements
    /// from `starts[i]` (checked by the caller to lie inside `saved`).
    init(saved: SavedIndexBytes, starts: [Int], counts: [Int], filler: Element) {
        precondition(starts.count == counts.count, "\(starts.count) starts for \(counts.count) lists")
        self.saved = saved
        savedStarts = starts
        savedCounts = counts
        tail = ChunkedLists(filler: filler)
        for _ in counts.indices { _ = tail.addList() }
    }

    @inline(__always)
    func savedCount(_ list: Int) -> Int { list < savedCounts.count ? savedCounts[list] : 0 }

    var listCount: Int { tail.listCount }

    func count(_ list: Int) -> Int { savedCount(list) + tail.count(list) }

    mutating func addList() -> Int { tail.addList() }

    mutating func append(_ element: Element, to list: Int) { tail.append(element, to: list) }

    subscript(list: Int, index: Int) -> Element {
        let inSaved = savedCount(list)
        guard index < inSaved else { return tail[list, index - inSaved] }
        precondition(index >= 0, "element \(index)")
        return Element.load(saved!.bytes, savedStarts[list] + index * Element.savedBytes)
    }

    /// The list's elements in `range`, copied.
    func elements(_ list: Int, _ range: Range<Int>) -> [Element] {
        let inSaved = savedCount(list)
        precondition(range.lowerBound >= 0 && range.upperBound <= inSaved + tail.count(list), "range \(range) of a list of \(count(list))")
        var result: [Element] = []
        result.reserveCapacity(range.count)
        for index in range.lowerBound..<max(range.lowerBound, min(range.upperBound, inSaved)) {
            result.append(Element.load(saved!.bytes, savedStarts[list] + index * Element.savedBytes))
        }
        if range.upperBound > inSaved { result += tail.elements(list, max(range.lowerBound, inSaved) - inSaved..<(range.upperBound - inSaved)) }
        return result
    }

    func prefetchTail(_ list: Int) { tail.prefetchTail(list) }

    /// Bytes of this process's own memory it holds.
    var allocatedBytes: Int { tail.allocatedBytes + (savedStarts.capacity + savedCounts.capacity) * MemoryLayout<Int>.stride }
}
