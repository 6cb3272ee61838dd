import LedgerModel

/// Parses one JSON line into an event. Shapes (see docs/cli.md, `post`):
///   {"id":"1001","postings":[{"account":"1","debit":"2500"},{"account":"2","credit":"2500"}],
///    "kind":"posted","code":1,"userData":"0","metadata":"gw:ch_42","pendingId":"0","timeoutSeconds":0}
///   {"createAccount":{"id":"1","ledger":840,"code":1,"flags":["debitsMustNotExceedCredits"]}}
///   {"closeAccount":"1"}
public enum EventInput {
    /// One input line (its raw bytes: they must be valid UTF-8). A line is
    /// exactly one kind: an entry, `{"createAccount":{...}}` alone, or
    /// `{"closeAccount":"ID"}` alone.
    public static func parse(line: [UInt8]) throws -> Event {
        let node = try StrictJSONParser.parse(line)
        guard case .object = node else { throw InputError("not a JSON object") }
        if let account = node["createAccount"] {
            guard node.keys == ["createAccount"] else {
                throw InputError("a createAccount line holds nothing else (found \(node.keys.filter { $0 != "createAccount" }.joined(separator: ", ")))")
            }
            guard case .object = account else { throw InputError("createAccount must be an object") }
            return .createAccount(try parseAccount(account))
        }
        if let id = node["closeAccount"] {
            guard node.keys == ["closeAccount"] else {
                throw InputError("a closeAccount line holds nothing else (found \(node.keys.filter { $0 != "closeAccount" }.joined(separator: ", ")))")
            }
            return .closeAccount(try uint128(id, "closeAccount"))
        }
        return .createEntry(try parseEntry(node))
    }

    public static func parseAccount(_ object: JSONNode) throws -> NewAccount {
        try rejectUnknownKeys(object, allowed: ["id", "ledger", "code", "flags", "userData"])
        guard let idValue = object["id"] else { throw InputError("account needs an id") }
        guard let ledgerValue = object["ledger"] else { throw InputError("account needs a ledger") }
        var flagNames: [String] = []
        if let flags = object["flags"] {
            guard case .array(let items) = flags else { throw InputError("flags must be an array of strings") }
            for item in items {
                guard case .string(let name) = item else { throw InputError("flags must be an array of strings") }
                flagNames.append(name)
            }
        }
        return NewAccount(
            id: try uint128(idValue, "id"), ledger: UInt32(try bounded(ledgerValue, "ledger", max: UInt64(UInt32.max))),
            code: UInt16(try bounded(object["code"] ?? .number("0"), "code", max: UInt64(UInt16.max))),
            flags: try parseFlags(flagNames), userData: try uint128(object["userData"] ?? .string("0"), "userData"))
    }

    public static func parseFlags(_ names: [String]) throws -> AccountFlags {
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

    public static func parseEntry(_ object: JSONNode) throws -> NewEntry {
        try rejectUnknownKeys(object, allowed: ["id", "kind", "postings", "pendingId", "timeoutSeconds", "code", "userData", "metadata"])
        guard let idValue = object["id"] else { throw InputError("entry needs an id") }
        let kind: EntryKind
        let kindName: String
        switch object["kind"] {
        case nil: kindName = "posted"
        case .string(let name)?: kindName = name
        default: throw InputError("kind must be a string")
        }
        switch kindName {
        case "posted": kind = .posted
        case "pending": kind = .pending
        case "postPending": kind = .postPending
        case "voidPending": kind = .voidPending
        case let other: throw InputError("unknown entry kind '\(other)' (posted, pending, postPending, voidPending)")
        }
        var postings: [Posting] = []
        if let list = object["postings"] {
            guard case .array(let items) = list else { throw InputError("postings must be an array of objects") }
            guard items.count <= Limits.entryPostingsMax else { throw InputError("\(items.count) postings; at most \(Limits.entryPostingsMax)") }
            for item in items {
                guard case .object = item else { throw InputError("postings must be an array of objects") }
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
            guard case .string(let string) = text else { throw InputError("metadata must be a string") }
            metadata = Array(string.utf8)
            guard metadata.count <= Limits.entryMetadataBytesMax else {
                throw InputError("metadata is \(metadata.count) bytes; at most \(Limits.entryMetadataBytesMax)")
            }
        }
        return NewEntry(
            id: try uint128(idValue, "id"), kind: kind, postings: postings,
            pendingID: try uint128(object["pendingId"] ?? .string("0"), "pendingId"),
            timeoutSeconds: UInt32(try bounded(object["timeoutSeconds"] ?? .number("0"), "timeoutSeconds", max: UInt64(UInt32.max))),
            code: UInt16(try bounded(object["code"] ?? .number("0"), "code", max: UInt64(UInt16.max))),
            userData: try uint128(object["userData"] ?? .string("0"), "userData"), metadata: metadata)
    }

    public static func rejectUnknownKeys(_ object: JSONNode, allowed: Set<String>) throws {
        for key in object.keys where !allowed.contains(key) {
            throw InputError("unknown field '\(key)'")
        }
    }

    /// A 128-bit value from a JSON string (decimal digits, or 0x and hex
    /// digits) or a JSON integer written as plain digits below 2^53 (no sign,
    /// fraction or exponent: `1e3` is refused).
    public static func uint128(_ value: JSONNode, _ what: String) throws -> UInt128 {
        switch value {
        case .string(let string): return try parseUInt128(string, what: what)
        case .number(let text):
            guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let number = UInt64(text), number < 1 << 53 else {
                throw InputError("\(what) \(text) must be written as an integer below 2^53 (digits only); pass larger values as strings")
            }
            return UInt128(number)
        default: throw InputError("\(what) must be a string or an integer")
        }
    }

    public static func bounded(_ value: JSONNode, _ what: String, max: UInt64) throws -> UInt64 {
        let wide = try uint128(value, what)
        guard wide <= UInt128(max) else { throw InputError("\(what) \(wide) exceeds \(max)") }
        return UInt64(wide)
    }
}
