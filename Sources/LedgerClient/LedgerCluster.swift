// A primary and its standbys behind one handle (Specs/replication.md):
// writes go to the primary, and a `notPrimary` reply (whose body names the
// primary) is followed at once: nothing was applied where it was refused,
// so the same bytes are sent to the named server. Reads go to the standbys
// (round robin) when asked, else to the primary. One `LedgerClient` per
// address, each with its own connection, retries and deadlines.
//
// Read-your-writes (protocol 2): the cluster remembers the highest LSN its
// writes committed at and sends it with every read; a standby serves the
// read once it has applied that LSN. A standby that has not within the
// client's `readWaitMs` answers `behind`, and the read goes to the primary,
// as it does when the standby speaks only protocol 1.
import LedgerModel
import LedgerProtocol

public actor LedgerCluster {
    public enum ReadTarget: Sendable { case primary, standby }

    private let configuration: LedgerClientConfiguration
    private var clients: [String: LedgerClient] = [:]
    /// Where writes go: the first address until a `notPrimary` names another.
    public private(set) var primary: String
    private let addresses: [String]
    private var nextStandby = 0
    /// The highest LSN a write through this cluster committed at: every read
    /// waits for it, so reads see the cluster's own writes.
    public private(set) var lastWriteLSN: UInt64 = 0
    /// Redirections followed in a row before giving up (a loop of standbys
    /// naming each other is a misconfiguration, not a retry).
    static let redirectsMax = 4

    /// `addresses` as `host:port`, the presumed primary first; reads with
    /// `.standby` go to every address but the current primary.
    /// `configuration`'s host and port are ignored (the key, deadlines and
    /// retries apply to every address).
    public init(addresses: [String], configuration: LedgerClientConfiguration) {
        precondition(!addresses.isEmpty && addresses.allSatisfy { Self.split($0) != nil }, "addresses must be host:port")
        self.configuration = configuration
        self.primary = addresses[0]
        self.addresses = addresses
    }

    static func split(_ address: String) -> (String, Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65_535).contains(port) else {
            return nil
        }
        return (String(address[..<colon]), port)
    }

    private func client(_ address: String) -> LedgerClient {
        if let existing = clients[address] { return existing }
        var perAddress = configuration
        (perAddress.host, perAddress.port) = Self.split(address)!
        let client = LedgerClient(perAddress)
        clients[address] = client
        return client
    }

    /// Runs a write on the primary, following `notPrimary` to the server it names.
    public func write<T: Sendable>(_ body: @Sendable (LedgerClient) async throws -> T) async throws -> T {
        var address = primary
        for _ in 0...Self.redirectsMax {
            do {
                let writer = client(address)
                let result = try await body(writer)
                lastWriteLSN = max(lastWriteLSN, await writer.lastWriteLSN)
                return result
            } catch LedgerClientError.refused(.notPrimary, let named) where Self.split(named) != nil && named != address {
                address = named
                primary = named
            }
        }
        throw LedgerClientError.refused(.notPrimary, "\(Self.redirectsMax) servers in a row said they are not the primary")
    }

    /// Runs a read on a standby (round robin; the primary when there is
    /// none, or when the standby is `behind` the cluster's writes) or on the
    /// primary.
    public func read<T: Sendable>(from target: ReadTarget = .standby, _ body: @Sendable (LedgerClient) async throws -> T) async throws -> T {
        let standbys = addresses.filter { $0 != primary }
        guard target == .standby, !standbys.isEmpty else { return try await readOn(primary, body) }
        let address = standbys[nextStandby % standbys.count]
        nextStandby += 1
        do {
            let standby = client(address)
            let result = try await readOn(address, body)
            // A version 1 standby could not be asked to wait for our writes.
            let version = await standby.server?.version ?? 0
            if lastWriteLSN > 0 && version < ProtocolFormat.readYourWritesVersion { return try await readOn(primary, body) }
            return result
        } catch LedgerClientError.refused(.behind, _) {
            standbyReadsBehind += 1
            return try await readOn(primary, body)
        }
    }

    /// Reads that went to the primary because a standby was `behind`.
    public private(set) var standbyReadsBehind = 0

    private func readOn<T: Sendable>(_ address: String, _ body: @Sendable (LedgerClient) async throws -> T) async throws -> T {
        let reader = client(address)
        await reader.readYourWrites(atLeast: lastWriteLSN)
        return try await body(reader)
    }

    public func createAccounts(_ accounts: [NewAccount]) async throws -> [ResultCode] { try await write { try await $0.createAccounts(accounts) } }
    public func submit(_ entries: [NewEntry]) async throws -> [ResultCode] { try await write { try await $0.submit(entries) } }
    public func submit(_ entry: NewEntry) async throws -> ResultCode { try await write { try await $0.submit(entry) } }

    public func lookupAccounts(_ ids: [UInt128], from target: ReadTarget = .standby) async throws -> [Account?] {
        try await read(from: target) { try await $0.lookupAccounts(ids) }
    }

    public func status(from target: ReadTarget = .primary) async throws -> StatusBody { try await read(from: target) { try await $0.status() } }

    public func close() async {
        for client in clients.values { await client.close() }
        clients = [:]
    }
}
