// The benchmarks' random numbers: SplitMix64, seeded once from the system.
// The system generator makes a getrandom(2) syscall per number on Linux,
// two per entry, which made the generators, not the engine, the cost of
// building a large batch (Benchmarks/RESULTS.md, issue 13).
public struct FastRandom: RandomNumberGenerator {
    private var state = UInt64.random(in: 1...UInt64.max)

    public init() {}

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
