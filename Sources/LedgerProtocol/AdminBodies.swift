// Operation 12, `admin` (Specs/protocol.md, "Admin operations"): operator
// commands on a running server, for `admin` keys only. The request is a
// command and its fixed-size arguments; the reply is a UTF-8 JSON object
// (for people and scripts, not a hot path). Long commands (snapshot,
// archive, restore, verify) start a job and answer with its id at once; `job`
// reports a job's progress and outcome, `cancel` stops it between steps.

public enum AdminCommand: Sendable, Equatable {
    case months
    case digest
    case snapshot
    /// Archive every sealed month before `beforeYear`-`beforeMonth`.
    case archive(beforeYear: UInt16, beforeMonth: UInt8, codec: UInt8, level: Int32)
    case restore(year: UInt16, month: UInt8)
    case job(id: UInt64)
    case cancel(id: UInt64)
    /// Online verify (a job): everything up to the durable LSN at its start.
    case verify
    /// API keys (the server's keys file, reloaded at once): role 1 client,
    /// 2 replication, 3 admin; an empty id asks the server to choose one.
    case keyCreate(id: String, role: UInt8, eventsPerSecond: UInt32)
    case keyList
    case keyRevoke(id: String, oldOnly: Bool)
    case keyRotate(id: String)
    /// Raw records: the WAL from an LSN (month 0), or a month's segment.
    case inspect(year: UInt16, month: UInt8, fromLSN: UInt64, limit: UInt32)

    public static let headerBytes = 8
    public static let argumentBytesMax = 128
    public static let keyIDBytesMax = 64

    var code: UInt16 {
        switch self {
        case .months: 1
        case .digest: 2
        case .snapshot: 3
        case .archive: 4
        case .restore: 5
        case .job: 6
        case .cancel: 7
        case .verify: 8
        case .keyCreate: 9
        case .keyList: 10
        case .keyRevoke: 11
        case .keyRotate: 12
        case .inspect: 13
        }
    }

    public func encoded() -> [UInt8] {
        var arguments: [UInt8] = []
        switch self {
        case .months, .digest, .snapshot, .verify, .keyList: break
        case .keyCreate(let id, let role, let rate):
            arguments += [role, 0, UInt8(id.utf8.count), 0]
            Wire.append(&arguments, rate)
            arguments += Array(id.utf8)
        case .keyRevoke(let id, let oldOnly):
            arguments += [oldOnly ? 1 : 0, 0, UInt8(id.utf8.count), 0] + Array(id.utf8)
        case .keyRotate(let id):
            arguments += [0, 0, UInt8(id.utf8.count), 0] + Array(id.utf8)
        case .inspect(let year, let month, let fromLSN, let limit):
            Wire.append(&arguments, year)
            arguments += [month, 0]
            Wire.append(&arguments, limit)
            Wire.append(&arguments, fromLSN)
        case .archive(let year, let month, let codec, let level):
            Wire.append(&arguments, year)
            arguments += [month, codec]
            Wire.append(&arguments, UInt32(bitPattern: level))
        case .restore(let year, let month):
            Wire.append(&arguments, year)
            arguments += [month, 0]
        case .job(let id), .cancel(let id):
            Wire.append(&arguments, id)
        }
        var out: [UInt8] = []
        Wire.append(&out, code)
        Wire.append(&out, UInt16(0))
        Wire.append(&out, UInt32(arguments.count))
        return out + arguments
    }

    public static func decode(_ body: [UInt8]) throws -> AdminCommand {
        guard body.count >= headerBytes else { throw ProtocolError(.malformedBody, "an admin request is at least \(headerBytes) bytes") }
        let (code, zero, count) = body.withUnsafeBytes { (Wire.u16($0, 0), Wire.u16($0, 2), Int(Wire.u32($0, 4))) }
        guard zero == 0, count <= argumentBytesMax, body.count == headerBytes + count else {
            throw ProtocolError(.malformedBody, "admin request header out of range")
        }
        let arguments = Array(body[headerBytes...])
        func expect(_ bytes: Int) throws {
            guard arguments.count == bytes else { throw ProtocolError(.malformedBody, "admin command \(code) takes \(bytes) bytes of arguments") }
        }
        let command: AdminCommand
        switch code {
        case 1: command = .months
        case 2: command = .digest
        case 3: command = .snapshot
        case 8: command = .verify
        case 9, 11, 12: command = try keyCommand(code, arguments)
        case 10: command = .keyList
        case 13:
            try expect(16)
            guard arguments[3] == 0 else { throw ProtocolError(.malformedBody, "inspect's fourth argument byte must be zero") }
            command = arguments.withUnsafeBytes { .inspect(year: Wire.u16($0, 0), month: $0[2], fromLSN: Wire.u64($0, 8), limit: Wire.u32($0, 4)) }
        case 4:
            try expect(8)
            command = arguments.withUnsafeBytes {
                .archive(beforeYear: Wire.u16($0, 0), beforeMonth: $0[2], codec: $0[3], level: Int32(bitPattern: Wire.u32($0, 4)))
            }
        case 5:
            try expect(4)
            guard arguments[3] == 0 else { throw ProtocolError(.malformedBody, "restore's fourth argument byte must be zero") }
            command = arguments.withUnsafeBytes { .restore(year: Wire.u16($0, 0), month: $0[2]) }
        case 6, 7:
            try expect(8)
            let id = arguments.withUnsafeBytes { Wire.u64($0, 0) }
            command = code == 6 ? .job(id: id) : .cancel(id: id)
        default:
            throw ProtocolError(.malformedBody, "unknown admin command \(code)")
        }
        if case .months = command { try expect(0) }
        if case .digest = command { try expect(0) }
        if case .snapshot = command { try expect(0) }
        if case .verify = command { try expect(0) }
        if case .keyList = command { try expect(0) }
        return command
    }

    /// Key commands: u8 role or flag, u8 zero, u8 id bytes K, u8 zero, then
    /// for create a u32 rate, then the id (UTF-8, no spaces).
    private static func keyCommand(_ code: UInt16, _ arguments: [UInt8]) throws -> AdminCommand {
        let fixed = code == 9 ? 8 : 4
        guard arguments.count >= fixed, arguments[1] == 0, arguments[3] == 0, arguments.count == fixed + Int(arguments[2]) else {
            throw ProtocolError(.malformedBody, "key command arguments out of range")
        }
        let idBytes = arguments[fixed...]
        guard idBytes.count <= keyIDBytesMax, let id = String(validating: idBytes, as: UTF8.self), !id.contains(" "), !id.contains("\n") else {
            throw ProtocolError(.malformedBody, "a key id is 0...\(keyIDBytesMax) bytes of UTF-8 without spaces")
        }
        switch code {
        case 9:
            guard (1...3).contains(arguments[0]) else { throw ProtocolError(.malformedBody, "key role \(arguments[0]): 1 client, 2 replication, 3 admin") }
            return .keyCreate(id: id, role: arguments[0], eventsPerSecond: arguments.withUnsafeBytes { Wire.u32($0, 4) })
        case 11:
            guard arguments[0] <= 1, !id.isEmpty else { throw ProtocolError(.malformedBody, "revoke takes a key id and a flag of 0 or 1") }
            return .keyRevoke(id: id, oldOnly: arguments[0] == 1)
        default:
            guard arguments[0] == 0, !id.isEmpty else { throw ProtocolError(.malformedBody, "rotate takes a key id") }
            return .keyRotate(id: id)
        }
    }
}
