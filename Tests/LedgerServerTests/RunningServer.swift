import Foundation
import LedgerEngine
import LedgerKeys

/// LedgerServer as a child process on a data directory (fresh, or reused
/// across restarts), with its development key.
final class RunningServer {
    static var serverPath: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/LedgerServer").path
    }

    let process = Process()
    let directory: String
    var port = 0
    var metricsPort = 0
    var secret: [UInt8]
    private let output = Pipe()

    /// `keysFile`: the API keys file to use instead of a development key.
    /// `directory` and `secret`: a directory a previous server made, and its key.
    init(keysFile: String? = nil, directory: String? = nil, secret: [UInt8] = [], port: Int = 0, arguments: [String] = [], environment: [String: String] = [:])
        throws
    {
        self.directory = directory ?? NSTemporaryDirectory() + "ledger-server-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.secret = secret
        process.executableURL = URL(fileURLWithPath: Self.serverPath)
        process.arguments =
            ["--data-dir", self.directory, "--port", "\(port)", "--in-flight-max", "16", "--metrics-port", "0"]
            + (keysFile.map { ["--keys-file", $0] } ?? ["--create-dev-key"]) + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = output
        // The server's log, kept beside its directory for a failing test to show.
        let logPath = self.directory + ".log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: logPath) ?? FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("listening on") && Date() < deadline && process.isRunning {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        for line in text.split(separator: "\n") {
            if line.hasPrefix("listening on"), let p = line.split(separator: ":").last { self.port = Int(p.prefix { $0.isNumber }) ?? 0 }
            if line.hasPrefix("metrics on"), let p = line.split(separator: ":").last?.split(separator: "/").first { self.metricsPort = Int(p) ?? 0 }
            if let range = line.range(of: "secret ") { self.secret = APIKeysHex.bytes(String(line[range.upperBound...])) }
        }
        guard self.port > 0 else {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw LedgerError(.io, "LedgerServer did not start (running: \(process.isRunning)): \(text) \(log.suffix(2_000))")
        }
    }

    /// SIGTERM, wait, and remove the directory; the exit status.
    func stop(keepDirectory: Bool = false) -> Int32 {
        process.terminate()
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            // The caller's expectation fails; its log says why (a crash at a
            // clean stop left no other trace once the directory was removed).
            let log = (try? String(contentsOfFile: directory + ".log", encoding: .utf8)) ?? ""
            FileHandle.standardError.write(
                Data("LedgerServer at \(directory) exited with status \(process.terminationStatus); its log ends:\n\(log.suffix(4_000))\n".utf8))
        }
        if !keepDirectory { removeDirectory() }
        return process.terminationStatus
    }

    /// SIGKILL: no clean stop, the directory stays.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: directory + ".log")
    }
}
