// The timeline record (WAL record type 3, Specs/wal-format.md "Timeline
// payload"): written by a promotion before the first write of the new
// timeline. It is not a group: the SHA-256 chain passes through it
// unchanged, and the chain value it carries ties it to the history it
// forks from. The same 64 bytes are a row of `timeline-history`
// (TimelineHistory.swift).

public struct TimelineSwitch: Sendable, Equatable {
    /// The timeline that starts after `forkLSN`.
    public var timeline: UInt64
    /// The last LSN of the previous timeline (the record itself is at
    /// `forkLSN + 1`).
    public var forkLSN: UInt64
    public var previousTimeline: UInt64
    public var clockNs: UInt64
    /// The SHA-256 chain value at `forkLSN` (after the last group at or
    /// before it; the chain's start value when there is none).
    public var chainValue: [UInt8]

    public static let payloadBytes = 64

    public init(timeline: UInt64, forkLSN: UInt64, previousTimeline: UInt64, clockNs: UInt64, chainValue: [UInt8]) {
        precondition(chainValue.count == 32, "a chain value is 32 bytes")
        precondition(timeline > previousTimeline && previousTimeline >= 1, "timeline \(timeline) after \(previousTimeline)")
        (self.timeline, self.forkLSN, self.previousTimeline, self.clockNs, self.chainValue) =
            (timeline, forkLSN, previousTimeline, clockNs, chainValue)
    }

    public func encode(into p: UnsafeMutableRawBufferPointer) {
        precondition(p.count >= Self.payloadBytes, "timeline payload buffer of \(p.count) bytes")
        _LE.put(p, 0, timeline)
        _LE.put(p, 8, forkLSN)
        _LE.put(p, 16, previousTimeline)
        _LE.put(p, 24, clockNs)
        for (i, byte) in chainValue.enumerated() { p[32 + i] = byte }
    }

    public var encoded: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.payloadBytes)
        bytes.withUnsafeMutableBytes { encode(into: $0) }
        return bytes
    }

    /// Decodes a payload; nil when its size or its timeline numbers are
    /// impossible (the callers name the record).
    public static func decode(_ p: UnsafeRawBufferPointer) -> TimelineSwitch? {
        guard p.count == payloadBytes else { return nil }
        let (timeline, previous) = (_LE.u64(p, 0), _LE.u64(p, 16))
        guard previous >= 1, timeline > previous else { return nil }
        return TimelineSwitch(timeline: timeline, forkLSN: _LE.u64(p, 8), previousTimeline: previous, clockNs: _LE.u64(p, 24), chainValue: Array(p[32..<64]))
    }

    /// Checks a timeline record at `lsn` against the log before it: it
    /// follows `currentTimeline`, forks at the record before it, and carries
    /// the chain value there. Throws `corruption` naming what differs.
    public static func check(_ payload: UnsafeRawBufferPointer, lsn: UInt64, currentTimeline: UInt64?, chainHead: [UInt8]?) throws -> TimelineSwitch {
        guard let decoded = decode(payload) else {
            throw LedgerError(.corruption, "timeline record LSN \(lsn): malformed (\(payload.count) bytes, or its timeline is not after the previous one)")
        }
        guard decoded.forkLSN + 1 == lsn else {
            throw LedgerError(.corruption, "timeline record LSN \(lsn) names fork LSN \(decoded.forkLSN), not the record before it")
        }
        if let currentTimeline, decoded.previousTimeline != currentTimeline {
            throw LedgerError(
                .corruption,
                "timeline record LSN \(lsn) switches from timeline \(decoded.previousTimeline), but the log before it is on timeline \(currentTimeline)")
        }
        if let chainHead, decoded.chainValue != chainHead {
            throw LedgerError(
                .corruption, "timeline record LSN \(lsn): its chain value is not the log's at LSN \(decoded.forkLSN) (it forks from another history)")
        }
        return decoded
    }
}
