import Foundation
import LedgerEngine

/// A minimal JSON writer with stable key order; 128-bit numbers are written
/// as decimal strings because JSON parsers lose precision beyond 2^53.
enum JSONValue {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])
    case null

    static func u128(_ value: UInt128) -> JSONValue { .string(String(value)) }

    var text: String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let fields): return "{" + fields.map { Self.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Account {
    var json: JSONValue {
        .object([
            ("id", .u128(id)), ("ledger", .int(Int(ledger))), ("code", .int(Int(code))),
            ("flags", .array(flagNames.map { .string($0) })), ("userData", .u128(userData)), ("timestamp", .string(String(timestamp))),
            ("debitsPosted", .u128(debitsPosted)), ("creditsPosted", .u128(creditsPosted)),
            ("debitsPending", .u128(debitsPending)), ("creditsPending", .u128(creditsPending)),
        ])
    }

    var flagNames: [String] {
        var names: [String] = []
        if flags.contains(.debitsMustNotExceedCredits) { names.append("debitsMustNotExceedCredits") }
        if flags.contains(.creditsMustNotExceedDebits) { names.append("creditsMustNotExceedDebits") }
        if flags.contains(.closed) { names.append("closed") }
        return names
    }
}

extension NewEntry {
    var json: JSONValue {
        var fields: [(String, JSONValue)] = [("id", .u128(id)), ("kind", .string(kind.description))]
        if pendingID != 0 { fields.append(("pendingId", .u128(pendingID))) }
        if timeoutSeconds != 0 { fields.append(("timeoutSeconds", .int(Int(timeoutSeconds)))) }
        fields.append(("code", .int(Int(code))))
        if userData != 0 { fields.append(("userData", .u128(userData))) }
        if !metadata.isEmpty {
            if let text = String(bytes: metadata, encoding: .utf8) {
                fields.append(("metadata", .string(text)))
            } else {
                fields.append(("metadataHex", .string(metadata.map { String(format: "%02x", $0) }.joined())))
            }
        }
        fields.append(
            (
                "postings",
                .array(
                    postings.map { posting in
                        .object([
                            ("account", .u128(posting.accountID)),
                            (posting.side == .debit ? "debit" : (posting.side == .credit ? "credit" : "side\(posting.side.rawValue)"), .u128(posting.amount)),
                        ])
                    })
            ))
        return .object(fields)
    }
}
