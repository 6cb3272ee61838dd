// Cuts the byte stream into frames. The header is checked from its 32 bytes
// alone (CRC, version, size limit) before any body byte is awaited, so a
// hostile length never makes the server buffer more than the limit.
import LedgerProtocol
import NIOCore

enum InboundFrame {
    case frame(FrameHeader, ByteBuffer)
    /// A frame that must be refused; `header` when its header was valid.
    case invalid(ProtocolError, FrameHeader?)
}

struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundFrame
    /// After a header error the stream cannot be re-synchronized: drop the rest.
    private var poisoned = false

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if poisoned {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        guard buffer.readableBytes >= ProtocolFormat.headerBytes else { return .needMoreData }
        let header: FrameHeader
        do {
            header = try buffer.withUnsafeReadableBytes { try FrameHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<ProtocolFormat.headerBytes])) }
        } catch let error as ProtocolError {
            poisoned = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.invalid(error, nil)))
            return .continue
        }
        guard buffer.readableBytes >= ProtocolFormat.headerBytes + header.bodyBytes else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: ProtocolFormat.headerBytes)
        let body = buffer.readSlice(length: header.bodyBytes)!
        do {
            try body.withUnsafeReadableBytes { try header.checkBody($0) }
            context.fireChannelRead(wrapInboundOut(.frame(header, body)))
        } catch let error as ProtocolError {
            context.fireChannelRead(wrapInboundOut(.invalid(error, header)))
        }
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A truncated frame at close is dropped: nothing of it was acted on.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
