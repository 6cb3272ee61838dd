import LedgerTestSupport
import Testing

@testable import LedgerEngine

@Suite struct CompressionTests {
    /// Ledger-like data: encoded entries with repeating structure.
    static func sample(bytes: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        var batch = EventBatch()
        while batch.bytes.count < bytes {
            let amount = UInt128(Int.random(in: 1...1000, using: &rng))
            let from = UInt128(Int.random(in: 1...10_000, using: &rng))
            batch.append(NewEntry(id: UInt128(batch.eventCount + 1), postings: [.debit(from, amount), .credit(from + 1, amount)], code: 1))
        }
        return Array(batch.bytes.prefix(bytes))
    }

    @Test(arguments: CompressionCodec.allCases)
    func framesRoundTripAtEveryLevelAndSize(codec: CompressionCodec) throws {
        for size in [0, 1, 100, 65_536, 300_000] {
            let input = Self.sample(bytes: size, seed: UInt64(size))
            for level in [codec.levels.lowerBound, codec.defaultLevel, codec.levels.upperBound] {
                let frame = try input.withUnsafeBytes { try FrameCompression.compress($0, codec: codec, level: level) }
                let output = try frame.withUnsafeBytes { try FrameCompression.decompress($0, codec: codec, decompressedBytes: size) }
                #expect(output == input, "\(codec) level \(level) size \(size)")
                if size >= 65_536 { #expect(frame.count * 2 < size, "\(codec) level \(level) compressed \(size) to \(frame.count)") }
            }
        }
    }

    /// A damaged frame either fails to decode or decodes to the original
    /// bytes (in repetitive data a changed lz4 match offset can point at
    /// identical bytes); it never yields different data silently. Byte-exact
    /// tamper evidence is the job of the CRC over each compressed frame in the
    /// segment's frame index.
    @Test(arguments: CompressionCodec.allCases)
    func flippedByteInAFrameNeverYieldsDifferentData(codec: CompressionCodec) throws {
        let input = Self.sample(bytes: 100_000, seed: 3)
        let frame = try input.withUnsafeBytes { try FrameCompression.compress($0, codec: codec, level: codec.defaultLevel) }
        var rejected = 0
        var positions = [4, 8, frame.count - 6, frame.count - 2]
        positions += stride(from: 16, to: frame.count - 8, by: max(1, frame.count / 64)).map { $0 }
        for position in positions {
            var damaged = frame
            damaged[position] ^= 0x04
            do {
                let output = try damaged.withUnsafeBytes { try FrameCompression.decompress($0, codec: codec, decompressedBytes: input.count) }
                #expect(output == input, "\(codec): flip at \(position) of \(frame.count) decoded to different data without an error")
            } catch let error as LedgerError {
                #expect(error.code == .corruption || error.code == .io)
                rejected += 1
            }
        }
        // Header and trailing checksum damage is always caught.
        #expect(rejected >= positions.count * 3 / 4, "\(codec): only \(rejected) of \(positions.count) flips rejected")
    }

    @Test(arguments: CompressionCodec.allCases)
    func truncatedOrWrongSizeFrameIsDetected(codec: CompressionCodec) throws {
        let input = Self.sample(bytes: 50_000, seed: 4)
        let frame = try input.withUnsafeBytes { try FrameCompression.compress($0, codec: codec, level: codec.defaultLevel) }
        #expect(throws: LedgerError.self) {
            _ = try Array(frame.dropLast(10)).withUnsafeBytes { try FrameCompression.decompress($0, codec: codec, decompressedBytes: input.count) }
        }
        #expect(throws: LedgerError.self) {
            _ = try frame.withUnsafeBytes { try FrameCompression.decompress($0, codec: codec, decompressedBytes: input.count - 1) }
        }
    }
}
