import ArgumentParser
import Foundation
import LedgerEngine
import LedgerInput
import LedgerProtocol

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "An account's postings in time order with the balances after each (from the monthly segments).",
        discussion:
            "Times are nanoseconds since the Unix epoch or ISO 8601 (2026-11-21T10:00:00Z). Reads the account's positions in the month indexes. When more items follow, the last line is the cursor to pass as --after."
    )

    @OptionGroup var directory: DataDirectoryOptions
    @Argument(help: "Account id.") var account: String
    @Option(help: "From this time (inclusive).") var from: String?
    @Option(help: "To this time (inclusive).") var to: String?
    @Option(help: "After this cursor (printed by the previous page).") var after: String?
    @Option(help: "At most this many items (1 to 100,000).") var limit: Int = 100
    @Flag(help: "Print JSON lines.") var json = false
    @OptionGroup var remote: RemoteOptions

    func run() throws {
        guard (1...100_000).contains(limit) else { throw ValidationError("--limit must be 1 to 100,000") }
        guard !remote.isRemote || limit <= ProtocolFormat.historyItemsMax else {
            throw ValidationError("--limit over --server is 1 to \(ProtocolFormat.historyItemsMax) (a protocol page)")
        }
        try runReportingErrors {
            let id = try parseUInt128(account, what: "account id")
            let fromNs = try from.map(parseTime) ?? 0
            let toNs = try to.map(parseTime) ?? .max
            let afterNs = try after.map { text -> UInt64 in
                guard let value = UInt64(text) else { throw InputError("cursor '\(text)' is not a number printed by a previous page") }
                return value
            }
            let page: HistoryPage
            if remote.isRemote {
                let query = HistoryQuery(account: id, fromNs: fromNs, toNs: toNs, afterNs: afterNs == 0 ? nil : afterNs, limit: limit)
                page = try withRemote(remote) { client in try await client.history(query) }
            } else {
                let ledger = try openReader(directory)
                page = try ledger.history(account: id, fromNs: fromNs, toNs: toNs, afterNs: afterNs, limit: limit)
                ledger.close()
            }
            for item in page.items {
                if json {
                    print(
                        JSONValue.object([
                            ("id", .u128(item.id)), ("kind", .string(item.kind.rawValue)), ("timestamp", .string(String(item.timestamp))),
                            ("lsn", .string(String(item.lsn))),
                            ("debitsPostedDelta", .u128(item.debitsPostedDelta)), ("creditsPostedDelta", .u128(item.creditsPostedDelta)),
                            ("debitsPendingDelta", .string(String(item.debitsPendingDelta))),
                            ("creditsPendingDelta", .string(String(item.creditsPendingDelta))),
                            ("balances", balancesJSON(item.balances)),
                        ]).text)
                } else {
                    print(
                        "\(formatTime(item.timestamp))  \(pad(item.kind.rawValue, 12))\(pad(String(item.id), 10))posted dr \(item.balances.debitsPosted) cr \(item.balances.creditsPosted)  pending dr \(item.balances.debitsPending) cr \(item.balances.creditsPending)"
                    )
                }
            }
            if let cursor = page.nextCursor { print(json ? JSONValue.object([("nextCursor", .string(String(cursor)))]).text : "next page: --after \(cursor)") }
        }
    }
}

func balancesJSON(_ b: AccountBalances) -> JSONValue {
    .object([
        ("debitsPosted", .u128(b.debitsPosted)), ("creditsPosted", .u128(b.creditsPosted)),
        ("debitsPending", .u128(b.debitsPending)), ("creditsPending", .u128(b.creditsPending)),
    ])
}

/// Nanoseconds since the epoch, or ISO 8601 with an optional fraction.
func parseTime(_ text: String) throws -> UInt64 {
    if let ns = UInt64(text) { return ns }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    var date = formatter.date(from: text)
    if date == nil {
        formatter.formatOptions = [.withInternetDateTime]
        date = formatter.date(from: text)
    }
    guard let date, date.timeIntervalSince1970 >= 0 else {
        throw InputError("time '\(text)' is neither nanoseconds since the epoch nor ISO 8601 like 2026-11-21T10:00:00Z")
    }
    return UInt64((date.timeIntervalSince1970 * 1_000_000).rounded()) * 1_000
}

func formatTime(_ ns: UInt64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(ns) / 1e9))
}
