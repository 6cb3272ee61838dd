import LedgerTestSupport
import Testing

@testable import LedgerEngine

/// SHA-256 on a thread of its own equals hashing in line, over more chunks
/// than may wait at once, and a hasher dropped before `finish` still lets
/// its thread end.
@Suite struct BackgroundSHA256Tests {
    @Test func theDigestIsTheInlineOne() {
        var rng = SeededRandom(seed: 5)
        let chunks = (0..<(BackgroundSHA256.chunksInFlightMax * 5)).map { _ in
            (0..<Int.random(in: 0...5_000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        let background = BackgroundSHA256()
        let inline = SHA256Hasher()
        for chunk in chunks {
            background.update(chunk)
            inline.update(chunk)
        }
        #expect(background.finish() == inline.finish())
        #expect(BackgroundSHA256().finish() == SHA256Hasher().finish(), "the empty stream")
    }

    @Test func aHasherDroppedHalfWayEndsItsThread() {
        for _ in 0..<50 {
            let background = BackgroundSHA256()
            background.update([1, 2, 3])
        }
    }
}
