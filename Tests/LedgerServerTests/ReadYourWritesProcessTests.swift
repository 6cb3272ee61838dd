import Foundation
import LedgerClient
import LedgerEngine
import LedgerProtocol
import LedgerTestSupport
import Testing

@testable import LedgerServer

/// Read-your-writes on a standby with real processes (Specs/protocol.md,
/// "Read-your-writes"): a read carrying a write's LSN is served once the
/// standby has applied it — at once when it has, after the stream resumes
/// when it was stalled — and answered `behind` at its deadline when it does
/// not arrive; the cluster handle then reads from the primary.
@Suite(.serialized) struct ReadYourWritesProcessTests {
    typealias R = ReplicationProcessTests

    static func entry(_ id: UInt128) -> NewEntry { NewEntry(id: id, postings: [.debit(1, 1), .credit(2, 1)]) }

    @Test func aStandbyReadWaitsForTheWriteItCarriesOrSaysBehindAtItsDeadline() async throws {
        let keys = try R.Keys()
        let (primary, standby, proxy) = try await PromotionProcessTests.partitionablePair(keys, arguments: [])
        defer { (primary.removeDirectory(), standby.removeDirectory()) }
        var configuration = LedgerClientConfiguration(keyID: "dev", secret: keys.clientSecret)
        configuration.deadlineMs = 20_000
        let cluster = LedgerCluster(addresses: ["127.0.0.1:\(primary.port)", "127.0.0.1:\(standby.port)"], configuration: configuration)

        // Each write read back from the standby at once sees itself.
        for id in UInt128(1)...20 {
            #expect(try await cluster.submit(Self.entry(id)) == .ok)
            let account = try await cluster.lookupAccounts([1], from: .standby)[0]
            #expect(account?.debitsPosted == id, "write \(id) not seen on the standby right after it")
        }
        #expect(await cluster.standbyReadsBehind == 0)
        let lsnAfter20 = await cluster.lastWriteLSN
        // A write's LSN is the primary's durable LSN right after it (nothing else writes).
        let primaryLSN = try await cluster.status(from: .primary).lastLSN
        #expect(lsnAfter20 > 0 && lsnAfter20 == primaryLSN)

        // The stream stalled: a read with the next write's LSN waits for it
        // and is served once the stream resumes.
        proxy.pause()
        #expect(try await cluster.submit(Self.entry(21)) == .ok)
        let lsn21 = await cluster.lastWriteLSN
        #expect(lsn21 > lsnAfter20)
        var standbyConfiguration = configuration
        standbyConfiguration.port = standby.port
        let reader = LedgerClient(standbyConfiguration)
        await reader.readYourWrites(atLeast: lsn21)
        let started = Date()
        let waiting = Task { try await reader.lookupAccounts([1]) }
        try await Task.sleep(for: .milliseconds(400))
        proxy.resume()
        #expect(try await waiting.value[0]?.debitsPosted == 21)
        #expect(Date().timeIntervalSince(started) >= 0.35, "the read was answered before the standby could have had the write")

        // Stalled past the read's wait: `behind`, naming both LSNs; the
        // connection stays usable; the cluster reads from the primary instead.
        proxy.pause()
        #expect(try await cluster.submit(Self.entry(22)) == .ok)
        let lsn22 = await cluster.lastWriteLSN
        var impatient = standbyConfiguration
        impatient.readWaitMs = 300
        let shortWait = LedgerClient(impatient)
        await shortWait.readYourWrites(atLeast: lsn22)
        let asked = Date()
        do {
            _ = try await shortWait.lookupAccounts([1])
            Issue.record("a read was served while the write it carries could not have reached the standby")
        } catch LedgerClientError.refused(.behind, let message) {
            #expect(message.contains("the read asked for \(lsn22)"), "\(message)")
        }
        #expect(Date().timeIntervalSince(asked) >= 0.25, "the read waited its 300 ms")
        #expect(try await reader.lookupAccounts([1])[0]?.debitsPosted == 21, "a read of an LSN the standby has is still served")
        #expect(try await cluster.lookupAccounts([1], from: .standby)[0]?.debitsPosted == 22, "the cluster went to the primary")
        #expect(await cluster.standbyReadsBehind == 1)
        proxy.resume()
        #expect(try await shortWait.lookupAccounts([1])[0]?.debitsPosted == 22, "caught up: served")

        // A version 1 client is served as before: no LSNs, no waits; its
        // writes get version 1 results.
        var old = standbyConfiguration
        old.protocolVersions = 1...1
        let oldClient = LedgerClient(old)
        #expect(try await oldClient.lookupAccounts([2])[0]?.creditsPosted ?? 0 >= 21)
        #expect(await oldClient.server?.version == 1)
        var oldWriter = configuration
        (oldWriter.port, oldWriter.protocolVersions) = (primary.port, 1...1)
        let oldPrimaryClient = LedgerClient(oldWriter)
        #expect(try await oldPrimaryClient.submit([Self.entry(23)]) == [.ok])
        #expect(await oldPrimaryClient.lastWriteLSN == 0, "no LSN in version 1 results")
        await oldPrimaryClient.close()
        for client in [reader, shortWait, oldClient] { await client.close() }
        await cluster.close()
    }
}
