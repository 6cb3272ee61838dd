import Foundation
import LedgerEngine
import LedgerTestSupport
import Testing

/// Runs the real `ledgerctl` binary and checks its output and exit code.
@Suite struct LedgerCtlTests {
    static var ledgerctlPath: String {
        if let path = ProcessInfo.processInfo.environment["LEDGERCTL"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/ledgerctl").path
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    static func run(_ arguments: [String], input: String? = nil) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ledgerctlPath)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inp
        try process.run()
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try inp.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func freshDirectory() throws -> String {
        let dir = temporaryDirectory("ctl")
        let output = try run(["init", "--data-dir", dir, "--wal-file-mib", "1"])
        #expect(output.status == 0, "\(output.stderr)")
        return dir
    }

    /// `init` fixes the resident window in `ledger.meta`: one month unless
    /// told two.
    @Test func initFixesTheResidentWindow() throws {
        for (arguments, months) in [([String](), 1), (["--resident-window-months", "2"], 2), (["--resident-window-months", "1"], 1)] {
            let dir = temporaryDirectory("ctl-window")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let output = try Self.run(["init", "--data-dir", dir, "--wal-file-mib", "1"] + arguments)
            #expect(output.status == 0, "\(output.stderr)")
            let meta = try DataDirectoryMeta.read(storage: POSIXStorage(), layout: DataDirectoryLayout(root: dir))
            #expect(meta.residentWindowMonths == months, "\(arguments)")
            // `verify` says which rule its replay followed.
            let verify = try Self.run(["verify", "--json", "--data-dir", dir])
            #expect(verify.status == 0 && verify.stdout.contains("\"residentWindowMonths\":\(months)"), "\(verify.stdout)")
            let text = try Self.run(["verify", "--data-dir", dir])
            #expect(text.stdout.contains("resident window \(months) month"), "\(text.stdout)")
        }
    }

    /// More accounts than one batch holds: created in batches, not a crash
    /// (found by the admin benchmark: `--accounts 10000` trapped).
    @Test func stressWithMoreAccountsThanABatchStarts() throws {
        let dir = try Self.freshDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ledgerctlPath)
        process.arguments = ["stress", "--data-dir", dir, "--accounts", "9000", "--threads", "1"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("ready") && process.isRunning && Date() < deadline {
            text += String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGKILL)  // it writes "ack" lines until killed; nobody reads them now
        process.waitUntilExit()
        #expect(text.hasPrefix("ready\n"), "stress did not get ready: \(text.prefix(200))")
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL, "it ended by itself: \(process.terminationStatus)")
        let balance = try Self.run(["balance", "9000", "--json", "--data-dir", dir])
        #expect(balance.status == 0 && balance.stdout.contains("\"debitsPosted\""), "\(balance.stdout) \(balance.stderr)")
    }

    @Test func postPrintsOneResultPerLineAndBalancesAgree() throws {
        let dir = try Self.freshDirectory()
        try Self.run(["account", "create", "--id", "1", "--ledger", "840", "--data-dir", dir])
        try Self.run(["account", "create", "--id", "2", "--ledger", "840", "--flags", "debits-must-not-exceed-credits", "--data-dir", dir])
        let post = try Self.run(
            ["post", "--data-dir", dir],
            input: """
                {"id":"10","postings":[{"account":"1","debit":"700"},{"account":"2","credit":"700"}]}
                {"id":"11","postings":[{"account":"2","debit":"900"},{"account":"1","credit":"900"}]}
                {"id":"10","postings":[{"account":"1","debit":"700"},{"account":"2","credit":"700"}]}
                """)
        #expect(post.status == 0)
        #expect(
            post.stdout == """
                {"line":1,"id":"10","result":"ok"}
                {"line":2,"id":"11","result":"exceedsCredits"}
                {"line":3,"id":"10","result":"exists"}

                """)
        let balance = try Self.run(["balance", "2", "--json", "--data-dir", dir])
        #expect(balance.status == 0)
        #expect(balance.stdout.contains("\"creditsPosted\":\"700\""))
        #expect(balance.stdout.contains("\"debitsPosted\":\"0\""))
        for months in ["1", "4"] {
            let verify = try Self.run(["verify", "--json", "--months-in-parallel", months, "--data-dir", dir])
            #expect(verify.status == 0)
            #expect(verify.stdout.hasPrefix("{\"passed\":true"))
        }
    }

    @Test func malformedInputIsOneLineExitTwoAndPostsNothing() throws {
        let dir = try Self.freshDirectory()
        try Self.run(["account", "create", "--id", "1", "--ledger", "840", "--data-dir", dir])
        try Self.run(["account", "create", "--id", "2", "--ledger", "840", "--data-dir", dir])
        let bad = try Self.run(
            ["post", "--data-dir", dir],
            input: """
                {"id":"20","postings":[{"account":"1","debit":"5"},{"account":"2","credit":"5"}]}
                {"id":"21","postings":[{"account":"1","debit":"-5"}]}
                """)
        #expect(bad.status == 2)
        #expect(bad.stdout.isEmpty)
        #expect(bad.stderr == "ledgerctl: error: line 2: debit '-5' is not an unsigned 128-bit integer (decimal digits, or 0x and hex digits)\n")
        // The valid first line was not posted either.
        let lookup = try Self.run(["lookup", "20", "--wal", "--data-dir", dir])
        #expect(lookup.status == 1)
        for input in ["not json", "{\"id\":\"1\",\"surprise\":1}", "[1,2]", "{\"closeAccount\":true}", "{\"id\":\"1\",\"kind\":\"refund\"}"] {
            let output = try Self.run(["post", "--data-dir", dir], input: input)
            #expect(output.status == 2, "\(input)")
            #expect(output.stderr.hasPrefix("ledgerctl: error: line 1:") && output.stderr.split(separator: "\n").count == 1, "\(input): \(output.stderr)")
        }
    }

    @Test func missingOrLockedDirectoryIsExitThreeWithAClearMessage() throws {
        let missing = try Self.run(["balance", "1", "--data-dir", "/nonexistent/ledger"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("ledgerctl init"))
        let dir = try Self.freshDirectory()
        let again = try Self.run(["init", "--data-dir", dir])
        #expect(again.status == 3)
        #expect(again.stderr.contains("already exists"))
        // Hold the lock in this process: ledgerctl must refuse, not share.
        let ledger = try Ledger.open(at: dir)
        let locked = try Self.run(["verify", "--data-dir", dir])
        #expect(locked.status == 3)
        #expect(locked.stderr.contains("in use by another process"))
        // inspect only reads: it runs beside the holder, and says so.
        let inspected = try Self.run(["inspect", "wal", "--data-dir", dir])
        #expect(inspected.status == 0 && inspected.stderr.contains("in use (a running server)"), "\(inspected.stderr)")
        try ledger.close()
    }

    @Test func inspectWalShowsRecordsAndLookupFindsTheEntry() throws {
        let dir = try Self.freshDirectory()
        try Self.run(["account", "create", "--id", "1", "--ledger", "840", "--data-dir", dir])
        try Self.run(["account", "create", "--id", "2", "--ledger", "840", "--data-dir", dir])
        try Self.run(
            ["post", "--data-dir", dir], input: #"{"id":"30","metadata":"order:o_1","postings":[{"account":"1","debit":"5"},{"account":"2","credit":"5"}]}"#)
        let inspect = try Self.run(["inspect", "wal", "--json", "--events", "--data-dir", dir])
        #expect(inspect.status == 0)
        let lines = inspect.stdout.split(separator: "\n")
        #expect(lines.count >= 3)
        #expect(lines.contains { $0.contains("\"metadata\":\"order:o_1\"") && $0.contains("\"result\":\"ok\"") })
        let lookup = try Self.run(["lookup", "30", "--data-dir", dir])
        #expect(lookup.status == 0)
        #expect(lookup.stdout.contains("\"result\":\"ok\"") && lookup.stdout.contains("\"metadata\":\"order:o_1\""))
    }
}
