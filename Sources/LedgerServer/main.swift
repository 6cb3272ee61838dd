// LedgerServer: the TCP front end of the ledger engine.
//
// The server itself is a later issue (binary protocol, group commit across
// connections, authentication). Until then this executable only explains that.
let usage = """
    USAGE: LedgerServer --data-dir <path> [--port <port>]

    The network server is not implemented yet. Use `ledgerctl` to create a data
    directory, post entries, query balances and run `verify`.
    """
print(usage)
