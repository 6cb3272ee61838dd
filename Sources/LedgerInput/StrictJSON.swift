// A strict JSON reader for `post`'s input lines (RFC 8259 with the rules a
// ledger needs): object keys must be unique (no "last one wins"), strings
// must be valid UTF-8, numbers keep their text (so `1e3` or `5.0` can be
// refused where an integer id is expected), and depth and size are bounded.
// Foundation's JSONSerialization accepts duplicate keys and repairs invalid
// UTF-8, which is why this exists.

public enum JSONNode: Equatable, Sendable {
    case object([(key: String, value: JSONNode)])
    case array([JSONNode])
    case string(String)
    /// The number exactly as written.
    case number(String)
    case bool(Bool)
    case null

    public static func == (a: JSONNode, b: JSONNode) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): x == y
        case (.string(let x), .string(let y)), (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    /// The value of `key` in an object (keys are unique).
    public subscript(key: String) -> JSONNode? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    public var keys: [String] {
        guard case .object(let fields) = self else { return [] }
        return fields.map(\.key)
    }
}

public struct StrictJSONParser {
    public static let depthMax = 8
    public static let bytesMax = 1 << 20

    private let bytes: [UInt8]
    private var position = 0

    /// Parses one whole document; throws `InputError` naming the byte offset.
    public static func parse(_ bytes: [UInt8]) throws -> JSONNode {
        guard bytes.count <= bytesMax else { throw InputError("line is \(bytes.count) bytes; at most \(bytesMax)") }
        var parser = StrictJSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected bytes after the JSON value") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func error(_ what: String) -> InputError { InputError("not valid JSON: \(what) at byte \(position + 1)") }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private mutating func value(depth: Int) throws -> JSONNode {
        guard depth <= Self.depthMax else { throw error("nested deeper than \(Self.depthMax)") }
        guard position < bytes.count else { throw error("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: String) throws {
        let expected = Array(word.utf8)
        guard bytes.count - position >= expected.count, Array(bytes[position..<(position + expected.count)]) == expected else {
            throw error("unexpected character")
        }
        position += expected.count
    }

    private mutating func object(depth: Int) throws -> JSONNode {
        position += 1
        var fields: [(key: String, value: JSONNode)] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let key = try string()
            guard !fields.contains(where: { $0.key == key }) else { throw InputError("duplicate key \"\(key)\"") }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            fields.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            position += 1
            return .object(fields)
        }
    }

    private mutating func array(depth: Int) throws -> JSONNode {
        position += 1
        var items: [JSONNode] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            position += 1
            return .array(items)
        }
    }

    /// A number's text, checked against the JSON grammar.
    private mutating func number() throws -> String {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        func digits() -> Int {
            let from = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            return position - from
        }
        let integerStart = position
        guard digits() > 0 else { throw error("a number needs digits") }
        guard bytes[integerStart] != UInt8(ascii: "0") || position - integerStart == 1 else { throw error("a number has a leading zero") }
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw error("a fraction needs digits") }
        }
        if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            position += 1
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) { position += 1 }
            guard digits() > 0 else { throw error("an exponent needs digits") }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// A string, with escapes resolved; its raw bytes must be valid UTF-8.
    private mutating func string() throws -> String {
        position += 1
        var scalars = String.UnicodeScalarView()
        while true {
            guard position < bytes.count else { throw error("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return String(scalars)
            }
            guard byte >= 0x20 else { throw error("control character in a string") }
            if byte == UInt8(ascii: "\\") {
                scalars.append(try escape())
                continue
            }
            scalars.append(try utf8Scalar())
        }
    }

    private mutating func escape() throws -> Unicode.Scalar {
        position += 1
        guard position < bytes.count else { throw error("unterminated escape") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try hex4()
            if (0xD800...0xDBFF).contains(high) {
                guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                    throw error("unpaired surrogate")
                }
                position += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
                return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(high) else { throw error("unpaired surrogate") }
            return scalar
        default: throw error("unknown escape")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - position >= 4, let value = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16) else {
            throw error("\\u needs four hex digits")
        }
        position += 4
        return value
    }

    /// One UTF-8 encoded scalar (shortest form, no surrogates).
    private mutating func utf8Scalar() throws -> Unicode.Scalar {
        let lead = bytes[position]
        let (count, minimum): (Int, UInt32)
        switch lead {
        case 0x00...0x7F:
            position += 1
            return Unicode.Scalar(lead)
        case 0xC2...0xDF: (count, minimum) = (2, 0x80)
        case 0xE0...0xEF: (count, minimum) = (3, 0x800)
        case 0xF0...0xF4: (count, minimum) = (4, 0x10000)
        default: throw error("invalid UTF-8")
        }
        guard bytes.count - position >= count else { throw error("invalid UTF-8") }
        var value = UInt32(lead) & (0xFF >> (count + 1))
        for i in 1..<count {
            let next = bytes[position + i]
            guard next & 0xC0 == 0x80 else { throw error("invalid UTF-8") }
            value = value << 6 | UInt32(next & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else { throw error("invalid UTF-8") }
        position += count
        return scalar
    }
}
