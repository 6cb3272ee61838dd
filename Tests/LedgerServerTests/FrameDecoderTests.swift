import LedgerModel
import LedgerProtocol
import NIOCore
import NIOEmbedded
import Testing

@testable import LedgerServer

/// The frame decoder in process (EmbeddedChannel), beside the TCP tests: how
/// it cuts a byte stream into frames and what it refuses, byte by byte.
@Suite struct FrameDecoderTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
        return channel
    }

    static func frame(_ requestID: UInt64, body: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]) -> [UInt8] {
        Frame.encode(operation: ProtocolOperation.status.rawValue, requestID: requestID, body: body)
    }

    static func write(_ channel: EmbeddedChannel, _ bytes: some Sequence<UInt8>) throws {
        try channel.writeInbound(channel.allocator.buffer(bytes: Array(bytes)))
    }

    /// A header whose CRC holds but whose length is above the limit.
    static func hostileHeader(bodyBytes: UInt32) -> [UInt8] {
        var header = Array(frame(9).prefix(ProtocolFormat.headerBytes))
        for i in 0..<4 { header[16 + i] = UInt8(truncatingIfNeeded: bodyBytes >> (8 * UInt32(i))) }
        let crc = header.withUnsafeBytes { Checksum.mask(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<28]))) }
        for i in 0..<4 { header[28 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        return header
    }

    @Test func aFrameSplitAcrossReadsIsDeliveredOnceWhole() throws {
        let channel = try Self.channel()
        let bytes = Self.frame(7)
        for chunk in [bytes[0..<5], bytes[5..<31], bytes[31..<35], bytes[35...]] {
            #expect(try channel.readInbound(as: InboundFrame.self) == nil)
            try Self.write(channel, chunk)
        }
        guard case .frame(let header, let body) = try channel.readInbound(as: InboundFrame.self) else {
            Issue.record("no frame")
            return
        }
        #expect(header.requestID == 7 && Array(body.readableBytesView) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test func framesBackToBackInOneReadAreDeliveredInOrder() throws {
        let channel = try Self.channel()
        try Self.write(channel, Self.frame(1) + Self.frame(2, body: []) + Self.frame(3))
        var ids: [UInt64] = []
        while case .frame(let header, _) = try channel.readInbound(as: InboundFrame.self) { ids.append(header.requestID) }
        #expect(ids == [1, 2, 3])
        _ = try channel.finish()
    }

    @Test func aHostileLengthIsRefusedFromTheHeaderAloneAndTheStreamIsDropped() throws {
        let channel = try Self.channel()
        // Only the 32 header bytes arrive: the refusal must not wait for a body.
        try Self.write(channel, Self.hostileHeader(bodyBytes: UInt32(ProtocolFormat.frameBodyBytesMax + 1)))
        guard case .invalid(let error, nil) = try channel.readInbound(as: InboundFrame.self) else {
            Issue.record("a length above the limit was not refused from the header")
            return
        }
        #expect(error.status == .frameTooLarge)
        // Nothing after it is read as a frame (the stream cannot be re-synchronized).
        try Self.write(channel, Self.frame(4))
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
        _ = try channel.finish()
    }

    @Test func aBodyFailingItsChecksumIsRefusedWithItsHeaderAndTheNextFrameStillReads() throws {
        let channel = try Self.channel()
        var bad = Self.frame(5)
        bad[ProtocolFormat.headerBytes] ^= 0xFF
        try Self.write(channel, bad + Self.frame(6))
        guard case .invalid(let error, let header?) = try channel.readInbound(as: InboundFrame.self) else {
            Issue.record("a damaged body was not refused")
            return
        }
        #expect(error.status == .bodyChecksumMismatch && header.requestID == 5)
        guard case .frame(let next, _) = try channel.readInbound(as: InboundFrame.self) else {
            Issue.record("the frame after a damaged body was lost")
            return
        }
        #expect(next.requestID == 6)
        _ = try channel.finish()
    }

    @Test func aTruncatedFrameAtCloseIsDroppedUnread() throws {
        let channel = try Self.channel()
        try Self.write(channel, Self.frame(8).dropLast(3))
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
        _ = try channel.finish(acceptAlreadyClosed: true)
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
    }
}
