// LedgerServer: the ledger engine over TCP (Specs/protocol.md).
import ArgumentParser
import Dispatch
import Foundation
import LedgerEngine
import LedgerProtocol
import Logging

@main
struct LedgerServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "LedgerServer",
        abstract: "Serve a ledger data directory over TCP (Specs/protocol.md).",
        discussion: """
            Every option can also be set by an environment variable: LEDGER_<OPTION> in upper case \
            with '-' as '_' (for example LEDGER_PORT=7400). Flags win over the environment.
            """,
        version: BuildInfo.versionText(tool: "LedgerServer", protocolVersions: ProtocolFormat.versions))

    @Option(name: .customLong("data-dir"), help: "The data directory (created if missing).")
    var dataDirectory: String = env("DATA_DIR") ?? "./data"
    @Option(help: "Address to listen on. Loopback unless you mean otherwise.") var host: String = env("HOST") ?? "127.0.0.1"
    @Option(help: "TCP port (0: any free port, printed at start).") var port: Int = Int(env("PORT") ?? "") ?? ProtocolFormat.defaultPort
    @Option(help: "API keys file (default: <data-dir>/api-keys).") var keysFile: String? = env("KEYS_FILE")
    @Flag(help: "If there is no API keys file, create one with a development key and print the key once.")
    var createDevKey = false
    @Option(help: "Connections open at once; more are closed at accept.") var maxConnections: Int = Int(env("MAX_CONNECTIONS") ?? "") ?? 16_384
    @Option(help: "Unanswered requests per connection (1...1024).") var inFlightMax: Int = Int(env("IN_FLIGHT_MAX") ?? "") ?? ProtocolFormat.inFlightMaxDefault
    @Option(help: "Seconds without a frame before a connection is closed.") var idleTimeoutSeconds: Int = Int(env("IDLE_TIMEOUT_SECONDS") ?? "") ?? 300
    @Option(help: "Event-loop threads.") var threads: Int = Int(env("THREADS") ?? "") ?? 2
    @Option(help: "Address of the Prometheus endpoint (GET /metrics). Keep it on loopback.") var metricsHost: String = env("METRICS_HOST") ?? "127.0.0.1"
    @Option(help: "Port of the Prometheus endpoint (0: any free port, printed at start).")
    var metricsPort: Int = Int(env("METRICS_PORT") ?? "") ?? ProtocolFormat.defaultPort + 1
    @Option(help: "GET /readyz: a standby more than this many records (WAL groups) behind its primary is not ready.")
    var readyMaxLagRecords: UInt64 = UInt64(env("READY_MAX_LAG_RECORDS") ?? "") ?? 1_000
    @Flag(help: "Serve no metrics endpoint (LEDGER_NO_METRICS=1).") var noMetrics = env("NO_METRICS") == "1"
    @Option(name: .customLong("snapshot-interval-mib"), help: "WAL MiB between automatic snapshots (default: 4 WAL files' worth; 0: no automatic snapshots).")
    var snapshotIntervalMiB: Int?
    @Option(help: "PEM certificate chain: with --tls-private-key, the protocol port speaks TLS 1.2+ only (default: plain TCP).")
    var tlsCertificate: String = env("TLS_CERTIFICATE") ?? ""
    @Option(help: "PEM private key for --tls-certificate.") var tlsPrivateKey: String = env("TLS_PRIVATE_KEY") ?? ""
    @Option(help: "Run as a standby of this primary (HOST:PORT): the data directory must come from `ledgerctl basebackup`.")
    var standbyOf: String? = env("STANDBY_OF")
    @Option(help: "With --standby-of: a file holding the replication key as '<key id> <secret hex>' (or $LEDGER_REPLICATION_KEY='<key id>:<secret hex>').")
    var replicationKeyFile: String? = env("REPLICATION_KEY_FILE")
    @Option(help: "Synchronous commit: answer a write only once it is durable here and on this many standbys (0: here only).")
    var synchronousStandbys: Int = Int(env("SYNCHRONOUS_STANDBYS") ?? "") ?? 0
    @Option(
        name: .customLong("max-slot-wal-keep-mib"),
        help: "WAL MiB a replication slot may keep from compaction before it is invalidated (its standby then needs a new base backup).")
    var maxSlotWALKeepMiB: Int = Int(env("MAX_SLOT_WAL_KEEP_MIB") ?? "") ?? 1_024
    @Option(
        name: .customLong("archive-wal-to"), help: "Copy every WAL file into this directory before compaction deletes it (a failure holds compaction back).")
    var archiveWALTo: String? = env("ARCHIVE_WAL_TO")
    @Option(help: "Archive sealed months older than this many months on a schedule (0: every sealed month; unset: never).")
    var archiveAfterMonths: Int? = env("ARCHIVE_AFTER_MONTHS").flatMap { Int($0) }
    @Option(help: "Scheduled archival's codec: zstd or lz4.") var archiveCodec: String = env("ARCHIVE_CODEC") ?? "zstd"
    @Option(help: "Scheduled archival's level (zstd 1...19, lz4 0...12; default: the codec's).") var archiveLevel: Int? = env("ARCHIVE_LEVEL").flatMap {
        Int($0)
    }
    @Option(help: "Milliseconds between scheduled archival checks (10...86400000).")
    var archiveIntervalMs: Int = Int(env("ARCHIVE_INTERVAL_MS") ?? "") ?? 600_000

    @Option(
        help: "Milliseconds between builds of sealed months' account-ordered copies (one read per history page; 0: never; 10...86400000).")
    var accountCopiesIntervalMs: Int = Int(env("ACCOUNT_COPIES_INTERVAL_MS") ?? "") ?? ScheduledAccountCopies.intervalMsDefault

    /// Scheduled archival's settings (nil: off); validated in `validate`.
    var archivalSettings: ScheduledArchival.Settings? {
        guard let archiveAfterMonths, let codec = CompressionCodec(name: archiveCodec) else { return nil }
        return .init(afterMonths: archiveAfterMonths, codec: codec, level: archiveLevel ?? codec.defaultLevel, intervalMs: archiveIntervalMs)
    }

    func validate() throws {
        guard (1...65_535).contains(port) || port == 0 else { throw ValidationError("--port must be 0...65535") }
        guard (1...1_048_576).contains(maxConnections) else { throw ValidationError("--max-connections must be 1...1048576") }
        guard (1...1_024).contains(inFlightMax) else { throw ValidationError("--in-flight-max must be 1...1024") }
        guard (1...86_400).contains(idleTimeoutSeconds) else { throw ValidationError("--idle-timeout-seconds must be 1...86400") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1...64") }
        guard (0...65_535).contains(metricsPort) else { throw ValidationError("--metrics-port must be 0...65535") }
        if let snapshotIntervalMiB {
            guard (0...1_048_576).contains(snapshotIntervalMiB) else { throw ValidationError("--snapshot-interval-mib must be 0...1048576") }
        }
        guard (0...16).contains(synchronousStandbys) else { throw ValidationError("--synchronous-standbys must be 0...16") }
        guard accountCopiesIntervalMs == 0 || ScheduledAccountCopies.intervalMsRange.contains(accountCopiesIntervalMs) else {
            throw ValidationError("--account-copies-interval-ms must be 0 or 10...86400000")
        }
        guard (0...1_048_576).contains(maxSlotWALKeepMiB) else { throw ValidationError("--max-slot-wal-keep-mib must be 0...1048576") }
        guard tlsCertificate.isEmpty == tlsPrivateKey.isEmpty else { throw ValidationError("--tls-certificate and --tls-private-key go together") }
        guard let codec = CompressionCodec(name: archiveCodec) else { throw ValidationError("--archive-codec must be zstd or lz4") }
        guard (0...1_200).contains(archiveAfterMonths ?? 0) else { throw ValidationError("--archive-after-months must be 0...1200") }
        guard codec.levels.contains(archiveLevel ?? codec.defaultLevel) else { throw ValidationError("--archive-level: \(codec) levels are \(codec.levels)") }
        guard (10...86_400_000).contains(archiveIntervalMs) else { throw ValidationError("--archive-interval-ms must be 10...86400000") }
    }

    func run() throws {
        do {
            try serve()
        } catch let error as LedgerError {
            // One line and exit 3, as ledgerctl: the directory could not be used.
            FileHandle.standardError.write(Data("LedgerServer: error: \(error.description)\n".utf8))
            throw ExitCode(3)
        }
    }

    private func serve() throws {
        var logger = Logger(label: "ledger.server")
        logger.logLevel = .info
        let layout = DataDirectoryLayout(root: dataDirectory)
        let keysPath = keysFile ?? layout.apiKeysPath
        if !FileManager.default.fileExists(atPath: layout.metaPath) && standbyOf == nil {
            try Ledger.initialize(at: dataDirectory)
            logger.info("created data directory", metadata: ["path": "\(dataDirectory)"])
        }
        if !FileManager.default.fileExists(atPath: keysPath) {
            guard createDevKey else { throw ValidationError("no API keys file at \(keysPath); pass --create-dev-key to make one") }
            let (line, secret) = APIKeys.generate(keyID: "dev")
            FileManager.default.createFile(atPath: keysPath, contents: Data((line + "\n").utf8), attributes: [.posixPermissions: 0o600])
            FileHandle.standardOutput.write(
                Data("development API key (shown once; only its salted hash is stored in \(keysPath)): key id 'dev', secret \(APIKeys.hex(secret))\n".utf8))
        }
        let keys = try APIKeys.load(path: keysPath)
        let tls = tlsCertificate.isEmpty ? nil : try ServerTLS.context(certificatePath: tlsCertificate, privateKeyPath: tlsPrivateKey)
        var options = Ledger.Options()
        let engineLogger = logger
        options.log = { engineLogger.info("\($0)") }
        let telemetry = ServerTelemetry()
        options.groupCommitted = { telemetry.groupCommitted($0) }
        options.synchronousStandbys = synchronousStandbys
        options.maxSlotWALKeepBytes = maxSlotWALKeepMiB << 20
        options.archiveWALTo = archiveWALTo
        options.snapshotIntervalWALBytes = (snapshotIntervalMiB ?? Int(env("SNAPSHOT_INTERVAL_MIB") ?? "")).map { $0 * 1024 * 1024 }
        let standby = try StandbySetup(standbyOf: standbyOf, keyFile: replicationKeyFile, layout: layout)
        let ledger = try Ledger.open(at: dataDirectory, options: options)
        POSIXStorage.recordLockHolderPID(layout.lockPath)  // for `ledgerctl promote`
        let directoryID = try DataDirectoryMeta.read(storage: POSIXStorage(), layout: DataDirectoryLayout(root: dataDirectory)).directoryID
        let server = LedgerTCPServer(ledger: ledger, telemetry: telemetry, logger: logger, threads: threads)
        let limits = ServerLimits(
            maxConnections: maxConnections, inFlightMax: inFlightMax, idleTimeoutSeconds: Int64(idleTimeoutSeconds), directoryID: directoryID,
            primaryAddress: standbyOf)
        if !noMetrics {
            let metricsBound = try server.startMetrics(host: metricsHost, port: metricsPort, readyMaxLagRecords: readyMaxLagRecords)
            FileHandle.standardOutput.write(Data("metrics on http://\(metricsHost):\(metricsBound)/metrics\n".utf8))
        }
        let receiver = standby.primary.map { StandbyReceiver(ledger: ledger, primary: $0, logger: logger) }
        let stopped = DispatchSemaphore(value: 0)
        let sources = Self.handleSignals(stop: stopped, ledger: ledger, receiver: receiver, keys: (keys, keysPath), logger: logger)
        let bound = try server.start(host: host, port: port, keys: keys, limits: limits, tls: tls)
        // Unbuffered, so a supervisor or test reading the pipe sees it at once.
        FileHandle.standardOutput.write(Data("listening on \(host):\(bound)\(tls == nil ? "" : " (TLS)")\n".utf8))
        if let receiver { server.metrics.replication.standby(receiver) }
        receiver?.start()
        let archival = archivalSettings.map { ScheduledArchival(ledger: ledger, settings: $0, telemetry: telemetry, logger: logger) }
        archival?.start()
        let copies = accountCopiesIntervalMs == 0 ? nil : ScheduledAccountCopies(ledger: ledger, intervalMs: accountCopiesIntervalMs, logger: logger)
        copies?.start()

        // The sources must outlive the wait: a source released early (the
        // optimizer ends a local's lifetime at its last use) drops its signal.
        withExtendedLifetime(sources) { stopped.wait() }
        logger.info("stopping")
        archival?.stop()
        copies?.stop()
        receiver?.stop()
        try server.stop()
        logger.info("stopped cleanly")
    }
}

extension LedgerServerCommand {
    /// Signals are handled from before "listening on" is printed (binding
    /// the port takes longer than arming a source), so a supervisor or a
    /// test that signals at once is not ignored. SIGTERM / SIGINT: stop
    /// accepting, finish what the engine holds, checkpoint, exit 0. SIGUSR2
    /// (`ledgerctl promote`): a standby stops streaming and becomes a
    /// primary on a new timeline. SIGHUP (`ledgerctl key`): the API keys are
    /// read again (kept as they were if the file does not parse). Keep the
    /// sources alive.
    static func handleSignals(
        stop: DispatchSemaphore, ledger: Ledger, receiver: StandbyReceiver?, keys: (APIKeys, path: String), logger: Logger
    ) -> [DispatchSourceSignal] {
        [SIGTERM, SIGINT, SIGUSR2, SIGHUP].map { signalNumber in
            signal(signalNumber, SIG_IGN)  // the source takes it from here (its handler is installed on resume)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            if signalNumber == SIGUSR2 {
                source.setEventHandler { promote(ledger, receiver: receiver, logger: logger) }
            } else if signalNumber == SIGHUP {
                source.setEventHandler { reloadKeys(keys.0, path: keys.path, logger: logger) }
            } else {
                source.setEventHandler { stop.signal() }
            }
            source.resume()
            return source
        }
    }

    static func reloadKeys(_ keys: APIKeys, path: String, logger: Logger) {
        do {
            let count = try keys.reload(path: path)
            logger.notice("reloaded API keys: \(count) key ids from \(path)")
        } catch {
            logger.error("API keys not reloaded, the previous ones stay in force: \(error)")
        }
    }

    static func promote(_ ledger: Ledger, receiver: StandbyReceiver?, logger: Logger) {
        guard ledger.isStandby else { return logger.warning("promotion asked (SIGUSR2), but this server is not a standby: ignored") }
        receiver?.stop()
        do {
            let row = try ledger.promote()
            logger.notice("promoted: taking writes on timeline \(row.timeline) (forked from timeline \(row.previousTimeline) after LSN \(row.forkLSN))")
        } catch {
            logger.error("promotion failed: \(error)")
        }
    }
}

private func env(_ name: String) -> String? { ProcessInfo.processInfo.environment["LEDGER_" + name] }
