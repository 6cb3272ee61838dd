// Frame compression for archived segments (issue 3): zstd or lz4, each frame
// independently decompressible and carrying the codec's own content checksum
// (ZSTD_c_checksumFlag, LZ4F content checksum), so a flipped byte in an
// archived frame is detected by the codec as well as by the segment's CRCs.
//
// The C libraries are reached only from this file.
import CLZ4
import CZstd

public enum CompressionCodec: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case zstd = 1
    case lz4 = 2

    public var description: String {
        switch self {
        case .zstd: "zstd"
        case .lz4: "lz4"
        }
    }

    public init?(name: String) {
        switch name {
        case "zstd": self = .zstd
        case "lz4": self = .lz4
        default: return nil
        }
    }

    /// Accepted levels: zstd 1...19, lz4 0 (fast) ... 12 (high compression).
    public var levels: ClosedRange<Int> {
        switch self {
        case .zstd: 1...19
        case .lz4: 0...12
        }
    }

    public var defaultLevel: Int {
        switch self {
        case .zstd: 3
        case .lz4: 0
        }
    }
}

public enum FrameCompression {
    /// Compresses `input` into one self-contained frame with a content checksum.
    public static func compress(_ input: UnsafeRawBufferPointer, codec: CompressionCodec, level: Int) throws -> [UInt8] {
        precondition(codec.levels.contains(level), "level \(level) outside \(codec.levels) for \(codec)")
        switch codec {
        case .zstd: return try compressZstd(input, level: level)
        case .lz4: return try compressLZ4(input, level: level)
        }
    }

    /// Decompresses one frame that must hold exactly `decompressedBytes`.
    /// Throws `corruption` for any damage the codec or the size check finds.
    public static func decompress(_ frame: UnsafeRawBufferPointer, codec: CompressionCodec, decompressedBytes: Int) throws -> [UInt8] {
        try FrameDecompressor(codec: codec).decompress(frame, decompressedBytes: decompressedBytes)
    }

    // MARK: zstd

    private static func compressZstd(_ input: UnsafeRawBufferPointer, level: Int) throws -> [UInt8] {
        guard let context = ZSTD_createCCtx() else { throw LedgerError(.io, "ZSTD_createCCtx failed") }
        defer { ZSTD_freeCCtx(context) }
        try configureZstd(context, level: level)
        return try compressZstd(input, context: context)
    }

    fileprivate static func configureZstd(_ context: OpaquePointer, level: Int) throws {
        try zstdCheck(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)), "set level")
        try zstdCheck(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "set checksum flag")
        try zstdCheck(ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1), "set content size flag")
    }

    /// With a configured context; its parameters stay set between frames.
    fileprivate static func compressZstd(_ input: UnsafeRawBufferPointer, context: OpaquePointer) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress2(context, out.baseAddress, out.count, input.baseAddress, input.count)
        }
        try zstdCheck(written, "compress")
        output.removeLast(output.count - written)
        return output
    }

    fileprivate static func decompressZstd(_ frame: UnsafeRawBufferPointer, decompressedBytes: Int, context: OpaquePointer) throws -> [UInt8] {
        let declared = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        guard declared == UInt64(decompressedBytes) else {
            throw LedgerError(.corruption, "zstd frame declares \(declared) bytes, the frame index \(decompressedBytes)")
        }
        var output = [UInt8](repeating: 0, count: decompressedBytes)
        let produced = output.withUnsafeMutableBytes { out in
            ZSTD_decompressDCtx(context, out.baseAddress, out.count, frame.baseAddress, frame.count)
        }
        if ZSTD_isError(produced) != 0 {
            throw LedgerError(.corruption, "zstd: \(String(cString: ZSTD_getErrorName(produced)))")
        }
        guard produced == decompressedBytes else {
            throw LedgerError(.corruption, "zstd frame produced \(produced) bytes, expected \(decompressedBytes)")
        }
        return output
    }

    private static func zstdCheck(_ code: Int, _ what: String) throws {
        if ZSTD_isError(code) != 0 {
            throw LedgerError(.io, "zstd \(what): \(String(cString: ZSTD_getErrorName(code)))")
        }
    }

    // MARK: lz4

    private static func lz4Preferences(level: Int, contentBytes: Int) -> LZ4F_preferences_t {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.contentSize = UInt64(contentBytes)
        preferences.compressionLevel = Int32(level)
        return preferences
    }

    private static func compressLZ4(_ input: UnsafeRawBufferPointer, level: Int) throws -> [UInt8] {
        var preferences = lz4Preferences(level: level, contentBytes: input.count)
        var output = [UInt8](repeating: 0, count: LZ4F_compressFrameBound(input.count, &preferences))
        let written = output.withUnsafeMutableBytes { out in
            LZ4F_compressFrame(out.baseAddress, out.count, input.baseAddress, input.count, &preferences)
        }
        if LZ4F_isError(written) != 0 {
            throw LedgerError(.io, "lz4 compress: \(String(cString: LZ4F_getErrorName(written)))")
        }
        output.removeLast(output.count - written)
        return output
    }

    fileprivate static func decompressLZ4(_ frame: UnsafeRawBufferPointer, decompressedBytes: Int, context: OpaquePointer) throws -> [UInt8] {
        LZ4F_resetDecompressionContext(context)  // a previous frame may have failed midway
        var output = [UInt8](repeating: 0, count: decompressedBytes)
        var produced = 0
        var consumed = 0
        var hint = 1
        try output.withUnsafeMutableBytes { out in
            while hint != 0 {
                guard consumed < frame.count else {
                    throw LedgerError(.corruption, "lz4 frame ends early after \(frame.count) bytes")
                }
                var outBytes = out.count - produced
                var inBytes = frame.count - consumed
                hint = LZ4F_decompress(context, out.baseAddress! + produced, &outBytes, frame.baseAddress! + consumed, &inBytes, nil)
                if LZ4F_isError(hint) != 0 {
                    throw LedgerError(.corruption, "lz4: \(String(cString: LZ4F_getErrorName(hint)))")
                }
                produced += outBytes
                consumed += inBytes
                if outBytes == 0 && inBytes == 0 && hint != 0 {
                    throw LedgerError(.corruption, "lz4 frame holds more than the \(decompressedBytes) bytes expected")
                }
            }
        }
        guard produced == decompressedBytes, consumed == frame.count else {
            throw LedgerError(.corruption, "lz4 frame produced \(produced) of \(decompressedBytes) bytes, used \(consumed) of \(frame.count)")
        }
        return output
    }
}

/// A decompression context kept for many frames (an archive reader's):
/// zstd and lz4 contexts are costly to create per frame (measured: most of a
/// 32 KiB frame's decompression time went to ZSTD_decompress's own context).
public final class FrameDecompressor {
    public let codec: CompressionCodec
    private let context: OpaquePointer

    public init(codec: CompressionCodec) {
        self.codec = codec
        switch codec {
        case .zstd:
            guard let context = ZSTD_createDCtx() else { preconditionFailure("ZSTD_createDCtx failed: out of memory") }
            self.context = context
        case .lz4:
            var context: OpaquePointer?
            let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
            guard LZ4F_isError(created) == 0, let context else { preconditionFailure("LZ4F_createDecompressionContext failed: out of memory") }
            self.context = context
        }
    }

    deinit {
        switch codec {
        case .zstd: ZSTD_freeDCtx(context)
        case .lz4: LZ4F_freeDecompressionContext(context)
        }
    }

    /// As `FrameCompression.decompress`.
    public func decompress(_ frame: UnsafeRawBufferPointer, decompressedBytes: Int) throws -> [UInt8] {
        switch codec {
        case .zstd: try FrameCompression.decompressZstd(frame, decompressedBytes: decompressedBytes, context: context)
        case .lz4: try FrameCompression.decompressLZ4(frame, decompressedBytes: decompressedBytes, context: context)
        }
    }
}

/// A compression context kept for many frames (the archiver's). Not
/// thread-safe: Sendable so that it can be handed to a worker thread, which
/// then uses it alone (`SegmentArchiver.compressInParallel`).
public final class FrameCompressor: @unchecked Sendable {
    public let codec: CompressionCodec
    public let level: Int
    private let zstdContext: OpaquePointer?

    public init(codec: CompressionCodec, level: Int) throws {
        precondition(codec.levels.contains(level), "level \(level) outside \(codec.levels) for \(codec)")
        self.codec = codec
        self.level = level
        if codec == .zstd {
            guard let context = ZSTD_createCCtx() else { throw LedgerError(.io, "ZSTD_createCCtx failed") }
            zstdContext = context
            do { try FrameCompression.configureZstd(context, level: level) } catch {
                ZSTD_freeCCtx(context)
                throw error
            }
        } else {
            zstdContext = nil  // LZ4F_compressFrame keeps its state on the stack
        }
    }

    deinit { if let zstdContext { ZSTD_freeCCtx(zstdContext) } }

    public func compress(_ input: UnsafeRawBufferPointer) throws -> [UInt8] {
        if let zstdContext { return try FrameCompression.compressZstd(input, context: zstdContext) }
        return try FrameCompression.compress(input, codec: codec, level: level)
    }
}
