// CRC32C (Castagnoli) over the C target, and LevelDB's mask for stored CRCs:
// shared by every on-disk format and the wire protocol's frames.
import CRC32C

/// CRC32C helpers over the C target.
public enum Checksum {
    @inlinable
    public static func crc32c(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        ledger_crc32c_extend(seed, bytes.baseAddress, bytes.count)
    }

    public static func crc32c(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0, seed: seed) }
    }

    /// LevelDB's mask: stored CRCs are rotated and offset so that a CRC over
    /// bytes containing CRCs stays strong.
    @inlinable
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
