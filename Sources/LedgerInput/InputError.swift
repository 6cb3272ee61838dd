/// An input error: one line naming the problem (`ledgerctl` exits 2 on it).
public struct InputError: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// Parses a 128-bit id or amount: decimal digits, or `0x` and hex digits;
/// nothing else (no sign, no spaces, no `_`).
public func parseUInt128(_ text: String, what: String) throws -> UInt128 {
    let utf8 = Array(text.utf8)
    let isDigit = { (b: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) }
    let isHexDigit = { (b: UInt8) in isDigit(b) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(b | 0x20) }
    let value: UInt128?
    if utf8.count > 2 && utf8[0] == UInt8(ascii: "0") && utf8[1] == UInt8(ascii: "x") && utf8.dropFirst(2).allSatisfy(isHexDigit) {
        value = UInt128(text.dropFirst(2), radix: 16)
    } else if !utf8.isEmpty && utf8.allSatisfy(isDigit) {
        value = UInt128(text, radix: 10)
    } else {
        value = nil
    }
    guard let value else { throw InputError("\(what) '\(text)' is not an unsigned 128-bit integer (decimal digits, or 0x and hex digits)") }
    return value
}
