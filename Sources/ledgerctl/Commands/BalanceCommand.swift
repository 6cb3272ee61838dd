import ArgumentParser
import LedgerEngine
import LedgerInput

struct BalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "balance", abstract: "Print accounts' balances.")

    @OptionGroup var directory: DataDirectoryOptions
    @OptionGroup var remote: RemoteOptions
    @Argument(help: "Account ids.") var ids: [String]
    @Flag(help: "Print JSON lines.") var json = false
    @Option(help: "Balances as of this time (ns since the epoch or ISO 8601), from the segments.") var asOf: String?

    func run() throws {
        guard !ids.isEmpty else { throw ValidationError("name at least one account id") }
        try runReportingErrors {
            let parsed = try ids.map { try parseUInt128($0, what: "account id") }
            if let asOf {
                let time = try parseTime(asOf)
                let balances: [AccountBalances]
                if remote.isRemote {
                    balances = try withRemote(remote) { client in
                        var out: [AccountBalances] = []
                        for id in parsed { out.append(try await client.balance(account: id, asOfNs: time)) }
                        return out
                    }
                } else {
                    let ledger = try openReader(directory)
                    balances = try parsed.map { try ledger.balance(account: $0, asOfNs: time) }
                    ledger.close()
                }
                for (id, b) in zip(parsed, balances) {
                    if json {
                        print(JSONValue.object([("id", .u128(id)), ("asOf", .string(String(time))), ("balances", balancesJSON(b))]).text)
                    } else {
                        print(
                            pad(String(id), 12)
                                + "as of \(formatTime(time)): posted dr \(b.debitsPosted) cr \(b.creditsPosted), pending dr \(b.debitsPending) cr \(b.creditsPending)"
                        )
                    }
                }
                return
            }
            let accounts: [Account?]
            if remote.isRemote {
                accounts = try withRemote(remote) { try await $0.lookupAccounts(parsed) }
            } else {
                let ledger = try openReader(directory)
                accounts = parsed.map { ledger.account(id: $0) }
                ledger.close()
            }
            var missing = false
            if !json {
                print(
                    pad("account", 12) + pad("ledger", 8) + pad("debits posted", 18) + pad("credits posted", 18) + pad("debits pending", 16)
                        + pad("credits pending", 16) + "net (credits - debits posted)")
            }
            for (id, account) in zip(parsed, accounts) {
                guard let account else {
                    missing = true
                    if json {
                        print(JSONValue.object([("id", .u128(id)), ("error", .string("accountNotFound"))]).text)
                    } else {
                        print(pad(String(id), 12) + "not found")
                    }
                    continue
                }
                if json {
                    print(account.json.text)
                } else {
                    let net =
                        account.creditsPosted >= account.debitsPosted
                        ? String(account.creditsPosted - account.debitsPosted) : "-" + String(account.debitsPosted - account.creditsPosted)
                    print(
                        pad(String(id), 12) + pad(String(account.ledger), 8) + pad(String(account.debitsPosted), 18) + pad(String(account.creditsPosted), 18)
                            + pad(String(account.debitsPending), 16) + pad(String(account.creditsPending), 16) + net
                            + (account.flags.contains(.closed) ? " (closed)" : ""))
                }
            }
            if missing { throw ExitCode(1) }
        }
    }
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
}
