// Random numbers for the benchmarks and the tests: SplitMix64.
// The system generator makes a getrandom(2) syscall per number on Linux,
// two per entry, which made the generators, not the engine, the cost of
// building a large batch (Benchmarks/RESULTS.md, issue 13); the tests need
// a seedable generator that gives the same numbers on every platform.

/// SplitMix64: small, seedable, identical on every platform.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The benchmarks' generator: SplitMix64 seeded once from the system.
public struct FastRandom: RandomNumberGenerator {
    private var generator = SplitMix64(seed: UInt64.random(in: 1...UInt64.max))

    public init() {}

    public mutating func next() -> UInt64 { generator.next() }
}
