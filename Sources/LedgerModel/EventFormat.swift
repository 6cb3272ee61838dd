// Byte layout of events and batches. See Specs/data-model.md ("Event encoding"):
// the tables there are normative; these constants mirror them.
/// The event encoding's constants and field offsets.
public enum EventFormat {
    /// Bumped when the encoding or what replay gives changes.
    public static let version: UInt8 = 4

    public static let kindCreateAccount: UInt8 = 1
    public static let kindCloseAccount: UInt8 = 2
    public static let kindCreateEntry: UInt8 = 3
    /// Engine-generated: releases a pending hold whose timeout has passed.
    /// Client-facing validation refuses it (`EventBatch(validating:)`).
    public static let kindExpireHold: UInt8 = 4

    // Field offsets within an event (Specs/data-model.md, "Event encoding").
    /// Every kind: the kind byte at 0 and the event's id (account, entry or
    /// hold) at 16.
    public static let kindOffset = 0
    public static let idOffset = 16
    // createAccount
    public static let accountFlagsOffset = 2  // u16
    public static let accountLedgerOffset = 4  // u32
    public static let accountCodeOffset = 8  // u16
    public static let accountUserDataOffset = 32  // u128
    // createEntry header
    public static let entryKindOffset = 1  // u8
    public static let entryCodeOffset = 2  // u16
    public static let entryPostingCountOffset = 4  // u16
    public static let entryMetadataBytesOffset = 6  // u16
    public static let entryTimeoutSecondsOffset = 8  // u32
    public static let entryPendingIDOffset = 32  // u128
    public static let entryUserDataOffset = 48  // u128
    // A posting, from its start (postings follow the entry header)
    public static let postingAccountOffset = 0  // u128
    public static let postingAmountOffset = 16  // u128
    public static let postingSideOffset = 32  // u8

    public static let createAccountBytes = 48
    public static let closeAccountBytes = 32
    public static let expireHoldBytes = 32
    public static let entryHeaderBytes = 64
    public static let postingBytes = 40

    /// Bytes of a `createEntry` event with `postingCount` postings and
    /// `metadataBytes` metadata (padded to 8).
    @inlinable
    public static func entryBytes(postingCount: Int, metadataBytes: Int) -> Int {
        entryHeaderBytes + postingCount * postingBytes + ((metadataBytes + 7) & ~7)
    }
}

/// Little-endian loads and stores at byte offsets. The only place event
/// bytes are touched through raw pointers; callers pass in-bounds offsets
/// (checked by `EventBatchReader.validate` before any load).
@usableFromInline
package enum _LE {
    @inlinable @inline(__always)
    package static func u8(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt8 { p[o] }
    @inlinable @inline(__always)
    package static func u16(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt16 {
        UInt16(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt16.self))
    }
    @inlinable @inline(__always)
    package static func u32(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }
    /// A size, count or offset read from a file: clamped to 2^56 (larger than
    /// any valid one), so a damaged field fails the bounds checks after it
    /// instead of trapping in `Int(_:)` or in arithmetic on it.
    package static let sizeFieldMax: UInt64 = 1 << 56
    package static func size(_ p: UnsafeRawBufferPointer, _ o: Int) -> Int { Int(min(u64(p, o), sizeFieldMax)) }

    @inlinable @inline(__always)
    package static func u64(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }
    @inlinable @inline(__always)
    package static func u128(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt128 {
        UInt128(u64(p, o + 8)) << 64 | UInt128(u64(p, o))
    }
    @inlinable @inline(__always)
    package static func put(_ p: UnsafeMutableRawBufferPointer, _ o: Int, _ v: UInt16) {
        p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt16.self)
    }
    @inlinable @inline(__always)
    package static func put(_ p: UnsafeMutableRawBufferPointer, _ o: Int, _ v: UInt32) {
        p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
    }
    @inlinable @inline(__always)
    package static func put(_ p: UnsafeMutableRawBufferPointer, _ o: Int, _ v: UInt64) {
        p.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self)
    }
    @inlinable @inline(__always)
    package static func put(_ p: UnsafeMutableRawBufferPointer, _ o: Int, _ v: UInt128) {
        put(p, o, UInt64(truncatingIfNeeded: v))
        put(p, o + 8, UInt64(truncatingIfNeeded: v >> 64))
    }
    /// True when bytes `[o, o+n)` are all zero.
    @inlinable
    package static func isZero(_ p: UnsafeRawBufferPointer, _ o: Int, _ n: Int) -> Bool {
        var i = o
        while i < o + n {
            if p[i] != 0 { return false }
            i += 1
        }
        return true
    }
}
