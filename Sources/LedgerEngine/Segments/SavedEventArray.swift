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

/// An element a saved index stores at a fixed size, little-endian.
protocol SavedElement {
    static var savedBytes: Int { get }
    static func load(_ p: UnsafeRawBufferPointer, _ offset: Int) -> Self
}

extension AccountEventRef: SavedElement {
    static var savedBytes: Int { OpenMonthIndexFormat.recordBytes }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self {
        AccountEventRef(timestamp: _LE.u64(p, o), offset: _LE.u64(p, o + 8), pendingPosition: SegmentPosition(rawValue: _LE.u64(p, o + 16)))
    }
}

extension UInt128: SavedElement {
    static var savedBytes: Int { 16 }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self { _LE.u128(p, o) }
}

extension UInt64: SavedElement {
    static var savedBytes: Int { 8 }
    static func load(_ p: UnsafeRawBufferPointer, _ o: Int) -> Self { _LE.u64(p, o) }
}

/// An append-only array whose first `savedCount` elements are a section of
/// a saved index (read in place) and whose others are in memory. Only the
/// in-memory part can change.
struct EventArray<Element: SavedElement>: RandomAccessCollection {
    private var saved: SavedIndexBytes?
    private var savedOffset = 0
    private(set) var savedCount = 0
    private(set) var tail: [Element] = []

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

    /// Room for `n` elements in all (the in-memory part's room).
    mutating func reserveCapacity(_ n: Int) { tail.reserveCapacity(Swift.max(0, n - savedCount)) }

    var capacity: Int { savedCount + tail.capacity }

    /// Bytes of this process's own memory it holds.
    var heldBytes: Int { tail.count * MemoryLayout<Element>.stride }
}
