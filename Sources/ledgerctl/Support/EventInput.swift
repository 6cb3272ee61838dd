import Foundation
import LedgerEngine

/// Parses one JSON line into an event. Shapes (see README, "ledgerctl post"):
///   {"id":"1001","postings":[{"account":"1","debit":"2500"},{"account":"2","credit":"2500"}],
///    "kind":"posted","code":1,"userData":"0","metadata":"gw:ch_42","pendingId":"0","timeoutSeconds":0}
///   {"createAccount":{"id":"1","ledger":840,"code":1,"flags":["debitsMustNotExceedCredits"]}}
///   {"closeAccount":"1"}
enum EventInput {
    static func parse(line: String) throws -> Event {
        guard let data = line.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? [String: Any]
        else { throw InputError("not a JSON object") }
        if let account = object["createAccount"] {
            guard let fields = account as? [String: Any] else { throw InputError("createAccount must be an object") }
            return .createAccount(try parseAccount(fields))
        }
        if let id = object["closeAccount"] {
            return .closeAccount(try uint128(id, "closeAccount"))
        }
        return .createEntry(try parseEntry(object))
    }

    static func parseAccount(_ object: [String: Any]) throws -> NewAccount {
        try rejectUnknownKeys(object, allowed: ["id", "ledger", "code", "flags", "userData"])
        guard let idValue = object["id"] else { throw InputError("account needs an id") }
        guard let ledgerValue = object["ledger"] else { throw InputError("account needs a ledger") }
        let flagNames = (object["flags"] as? [String]) ?? []
        return NewAccount(
            id: try uint128(idValue, "id"), ledger: UInt32(try bounded(ledgerValue, "ledger", max: UInt64(UInt32.max))),
            code: UInt16(try bounded(object["code"] ?? 0, "code", max: UInt64(UInt16.max))),
            flags: try parseFlags(flagNames), userData: try uint128(object["userData"] ?? "0", "userData"))
    }

    static func parseFlags(_ names: [String]) throws -> AccountFlags {
        var flags: AccountFlags = []
        for name in names {
            switch name {
            case "debitsMustNotExceedCredits", "debits-must-not-exceed-credits": flags.insert(.debitsMustNotExceedCredits)
            case "creditsMustNotExceedDebits", "credits-must-not-exceed-debits": flags.insert(.creditsMustNotExceedDebits)
            default: throw InputError("unknown account flag '\(name)' (debitsMustNotExceedCredits, creditsMustNotExceedDebits)")
            }
        }
        return flags
    }

    static func parseEntry(_ object: [String: Any]) throws -> NewEntry {
        try rejectUnknownKeys(object, allowed: ["id", "kind", "postings", "pendingId", "timeoutSeconds", "code", "userData", "metadata"])
        guard let idValue = object["id"] else { throw InputError("entry needs an id") }
        let kind: EntryKind
        switch (object["kind"] as? String) ?? "posted" {
        case "posted": kind = .posted
        case "pending": kind = .pending
        case "postPending": kind = .postPending
        case "voidPending": kind = .voidPending
        case let other: throw InputError("unknown entry kind '\(other)' (posted, pending, postPending, voidPending)")
        }
        var postings: [Posting] = []
        if let list = object["postings"] {
            guard let items = list as? [[String: Any]] else { throw InputError("postings must be an array of objects") }
            guard items.count <= Limits.entryPostingsMax else { throw InputError("\(items.count) postings; at most \(Limits.entryPostingsMax)") }
            for item in items {
                try rejectUnknownKeys(item, allowed: ["account", "debit", "credit"])
                guard let account = item["account"] else { throw InputError("posting needs an account") }
                switch (item["debit"], item["credit"]) {
                case (let amount?, nil): postings.append(.debit(try uint128(account, "account"), try uint128(amount, "debit")))
                case (nil, let amount?): postings.append(.credit(try uint128(account, "account"), try uint128(amount, "credit")))
                default: throw InputError("posting needs exactly one of debit or credit")
                }
            }
        }
        var metadata: [UInt8] = []
        if let text = object["metadata"] {
            guard let string = text as? String else { throw InputError("metadata must be a string") }
            metadata = Array(string.utf8)
            guard metadata.count <= Limits.entryMetadataBytesMax else {
                throw InputError("metadata is \(metadata.count) bytes; at most \(Limits.entryMetadataBytesMax)")
            }
        }
        return NewEntry(
            id: try uint128(idValue, "id"), kind: kind, postings: postings,
            pendingID: try uint128(object["pendingId"] ?? "0", "pendingId"),
            timeoutSeconds: UInt32(try bounded(object["timeoutSeconds"] ?? 0, "timeoutSeconds", max: UInt64(UInt32.max))),
            code: UInt16(try bounded(object["code"] ?? 0, "code", max: UInt64(UInt16.max))),
            userData: try uint128(object["userData"] ?? "0", "userData"), metadata: metadata)
    }

    static func rejectUnknownKeys(_ object: [String: Any], allowed: Set<String>) throws {
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw InputError("unknown field '\(key)'")
        }
    }

    /// A 128-bit value from a JSON string (decimal or 0x hex) or an exact
    /// non-negative integer below 2^53.
    static func uint128(_ value: Any, _ what: String) throws -> UInt128 {
        if let string = value as? String { return try parseUInt128(string, what: what) }
        if let number = value as? NSNumber, !(value is Bool) || number.objCType.pointee != 99 {
            let double = number.doubleValue
            guard double >= 0, double < 9_007_199_254_740_992, double == double.rounded() else {
                throw InputError("\(what) \(number) must be a non-negative integer below 2^53; pass larger values as strings")
            }
            return UInt128(number.uint64Value)
        }
        throw InputError("\(what) must be a string or an integer")
    }

    static func bounded(_ value: Any, _ what: String, max: UInt64) throws -> UInt64 {
        let wide = try uint128(value, what)
        guard wide <= UInt128(max) else { throw InputError("\(what) \(wide) exceeds \(max)") }
        return UInt64(wide)
    }
}
