import Testing

@testable import LedgerEngine

/// The chunked array behind the open month's per-event arrays: appends past
/// chunk boundaries keep every element, writes land where they are asked
/// to, and a copy is independent of the original.
@Suite struct ChunkedArrayTests {
    @Test func elementsSurviveChunkBoundariesAndCopiesAreIndependent() {
        let n = 3 * ChunkedArray<UInt64>.chunkLength + 5
        var array = ChunkedArray<UInt64>()
        array.reserveCapacity(n)
        #expect(array.capacity >= n)
        for i in 0..<n { array.append(UInt64(i) &* 0x9E37_79B9_7F4A_7C15) }
        #expect(array.count == n)
        #expect((0..<n).allSatisfy { array[$0] == UInt64($0) &* 0x9E37_79B9_7F4A_7C15 })
        let copy = array
        for i in stride(from: 0, to: n, by: 4_099) { array[i] = 7 }
        #expect((0..<n).allSatisfy { array[$0] == ($0 % 4_099 == 0 ? 7 : UInt64($0) &* 0x9E37_79B9_7F4A_7C15) })
        #expect((0..<n).allSatisfy { copy[$0] == UInt64($0) &* 0x9E37_79B9_7F4A_7C15 }, "the copy kept its elements")
    }
}
