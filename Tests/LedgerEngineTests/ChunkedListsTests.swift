import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// ChunkedLists against the obvious model (one array per list).
@Suite struct ChunkedListsTests {
    @Test func locateNumbersEveryIndexOnceInChunkOrder() {
        var expected = (chunk: 0, offset: 0)
        for index in 0..<(ChunkedLists<Int>.geometricElements + 3 * ChunkedLists<Int>.chunkLengthMax) {
            let found = ChunkedLists<Int>.locate(index)
            #expect(found == expected, "index \(index)")
            if found != expected { return }
            expected.offset += 1
            if expected.offset == ChunkedLists<Int>.chunkLength(expected.chunk) { expected = (expected.chunk + 1, 0) }
        }
    }

    @Test(arguments: testSeeds(4))
    func appendsAndReadsMatchOneArrayPerList(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var lists = ChunkedLists(filler: -1)
        var model: [[Int]] = []
        // A few long lists (past the geometric chunks, over several pages)
        // among many short ones.
        for step in 0..<60_000 {
            if model.isEmpty || Int.random(in: 0..<50, using: &rng) == 0 {
                #expect(lists.addList() == model.count)
                model.append([])
            }
            let list =
                Int.random(in: 0..<8, using: &rng) < 6 ? Int.random(in: 0..<min(3, model.count), using: &rng) : Int.random(in: 0..<model.count, using: &rng)
            lists.append(step, to: list)
            model[list].append(step)
        }
        #expect(lists.listCount == model.count)
        #expect(model.map(\.count).max()! > ChunkedLists<Int>.geometricElements + ChunkedLists<Int>.chunkLengthMax)
        let copy = lists
        lists.append(-7, to: 0)  // a copy keeps what it saw
        for (list, elements) in model.enumerated() {
            #expect(copy.count(list) == elements.count)
            #expect(copy.elements(list, 0..<elements.count) == elements, "list \(list)")
            guard !elements.isEmpty else { continue }
            let i = Int.random(in: 0..<elements.count, using: &rng)
            let j = Int.random(in: i...elements.count, using: &rng)
            #expect(copy[list, i] == elements[i])
            #expect(copy.elements(list, i..<j) == Array(elements[i..<j]))
        }
        #expect(lists[0, model[0].count] == -7 && lists.count(0) == model[0].count + 1)
    }
}
