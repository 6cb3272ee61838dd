// swift-tools-version:6.1
import PackageDescription

// The engine must never be built with -Ounchecked: money arithmetic relies on
// Swift's overflow traps as a second line of defence behind explicit checks.
let package = Package(
    name: "Ledger",
    products: [
        .library(name: "LedgerModel", targets: ["LedgerModel"]),
        .library(name: "LedgerEngine", targets: ["LedgerEngine"]),
        .library(name: "LedgerProtocol", targets: ["LedgerProtocol"]),
        .library(name: "LedgerClient", targets: ["LedgerClient"]),
        .executable(name: "LedgerServer", targets: ["LedgerServer"]),
        .executable(name: "ledgerctl", targets: ["ledgerctl"]),
        .executable(name: "LedgerBench", targets: ["LedgerBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(name: "CRC32C", path: "Sources/CRC32C"),
        .target(name: "CPrefetch", path: "Sources/CPrefetch"),
        // System libraries, found with pkg-config; `make` installs the -dev packages.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // SHA-256 for the tamper-evident hash chain (OpenSSL uses SHA-NI here: ~1.2 GB/s).
        .systemLibrary(name: "COpenSSLCrypto", path: "Sources/COpenSSLCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The model the engine, the protocol and the clients share (accounts,
        // entries, events and their encoding, result codes, limits, errors):
        // no zstd, lz4 or libcrypto, so a client links none of them.
        .target(name: "LedgerModel", dependencies: ["CRC32C"], path: "Sources/LedgerModel"),
        .target(
            name: "LedgerEngine",
            dependencies: ["LedgerModel", "CRC32C", "CPrefetch", "CZstd", "CLZ4", "COpenSSLCrypto"],
            path: "Sources/LedgerEngine"
        ),
        // `ledgerctl post`'s input: strict JSON lines and 128-bit numbers.
        .target(name: "LedgerInput", dependencies: ["LedgerModel"], path: "Sources/LedgerInput"),
        // The wire protocol (Specs/protocol.md): frames and bodies, no I/O.
        .target(name: "LedgerProtocol", dependencies: ["LedgerModel"], path: "Sources/LedgerProtocol"),
        // API keys: the keys file, its roles, and changes to it (server and ledgerctl).
        .target(name: "LedgerKeys", dependencies: ["LedgerEngine", "LedgerProtocol"], path: "Sources/LedgerKeys"),
        // Replication streams read by a blocking thread (a standby's receiver,
        // `ledgerctl basebackup`): a socket and the frames on it.
        .target(name: "LedgerStream", dependencies: ["LedgerProtocol"], path: "Sources/LedgerStream"),
        // The Swift client: async/await, pipelining, gathering, deadlines, retries.
        .target(
            name: "LedgerClient",
            dependencies: [
                "LedgerModel", "LedgerProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/LedgerClient"
        ),
        .executableTarget(
            name: "LedgerServer",
            dependencies: [
                "LedgerEngine", "LedgerProtocol", "LedgerStream", "LedgerKeys",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/LedgerServer"
        ),
        .executableTarget(
            name: "ledgerctl",
            dependencies: [
                "LedgerEngine", "LedgerProtocol", "LedgerClient", "LedgerInput", "LedgerStream", "LedgerKeys",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/ledgerctl"
        ),
        // The load generator: drives a LedgerServer over TCP (Benchmarks/RESULTS.md).
        .executableTarget(
            name: "LedgerLoad",
            dependencies: [
                "LedgerEngine", "LedgerProtocol", "LedgerClient", "BenchmarkSupport",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/LedgerLoad"
        ),
        // The Swift client in a program of its own (links no zstd, lz4 or libcrypto).
        .executableTarget(name: "SwiftClientExample", dependencies: ["LedgerClient", "LedgerModel"], path: "Examples/SwiftClient"),
        .executableTarget(
            name: "LedgerBench",
            dependencies: ["LedgerEngine", "BenchmarkSupport"],
            path: "Benchmarks/LedgerBench"
        ),
        // What the two benchmark programs share (their random numbers).
        .target(name: "BenchmarkSupport", path: "Benchmarks/BenchmarkSupport"),
        .target(
            name: "LedgerTestSupport",
            dependencies: ["LedgerEngine", "BenchmarkSupport"],
            path: "Tests/LedgerTestSupport"
        ),
        // Fuzz targets (Tests/FuzzCorpus/README.md): the functions, the
        // libFuzzer/replay executable, and the corpus replayed by `swift test`.
        .target(
            name: "LedgerFuzzTargets",
            dependencies: ["LedgerEngine", "LedgerProtocol", "LedgerInput", "LedgerTestSupport"],
            path: "Tests/LedgerFuzzTargets"
        ),
        .executableTarget(name: "LedgerFuzz", dependencies: ["LedgerFuzzTargets"], path: "Tests/LedgerFuzz"),
        .testTarget(name: "LedgerFuzzTests", dependencies: ["LedgerFuzzTargets", "LedgerEngine", "LedgerTestSupport"], path: "Tests/LedgerFuzzTests"),
        .testTarget(
            name: "LedgerEngineTests",
            dependencies: ["LedgerEngine", "CRC32C", "LedgerTestSupport"],
            path: "Tests/LedgerEngineTests"
        ),
        .testTarget(
            name: "LedgerProtocolTests",
            dependencies: ["LedgerProtocol", "LedgerEngine", "LedgerTestSupport"],
            path: "Tests/LedgerProtocolTests"
        ),
        .testTarget(
            name: "LedgerServerTests",
            dependencies: [
                "LedgerProtocol", "LedgerEngine", "LedgerClient", "LedgerTestSupport", "LedgerServer", "LedgerKeys",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            path: "Tests/LedgerServerTests"
        ),
        .testTarget(
            name: "LedgerCtlTests",
            dependencies: ["LedgerEngine", "LedgerTestSupport"],
            path: "Tests/LedgerCtlTests"
        ),
        .testTarget(
            name: "LedgerCrashTests",
            dependencies: ["LedgerEngine", "LedgerTestSupport"],
            path: "Tests/LedgerCrashTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
