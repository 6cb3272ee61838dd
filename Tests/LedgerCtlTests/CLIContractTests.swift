import Foundation
import LedgerEngine
import LedgerTestSupport
import Testing

/// The CLI contract of docs/cli.md: bad input is exit 2 with one line naming
/// the problem and changes nothing; `post` accepts exactly its grammar;
/// every input line gets a result line.
@Suite struct CLIContractTests {
    typealias Ctl = LedgerCtlTests

    static func expectBadInput(_ output: LedgerCtlTests.Output, _ context: String, naming: String? = nil) {
        #expect(output.status == 2, "\(context): exit \(output.status), \(output.stderr)")
        #expect(output.stderr.hasPrefix("ledgerctl: error: ") && output.stderr.split(separator: "\n").count == 1, "\(context): \(output.stderr)")
        if let naming { #expect(output.stderr.contains(naming), "\(context): \(output.stderr)") }
        #expect(output.stdout.isEmpty, "\(context): \(output.stdout)")
    }

    @Test func optionErrorsAreExitTwoWithOneLine() throws {
        let dir = try Ctl.freshDirectory()
        let cases: [[String]] = [
            ["post", "--batch-size", "0"], ["post", "--batch-size", "99999"], ["balance", "1", "--bogus"], ["history", "1", "--limit", "0"],
            ["init", "--wal-file-mib", "0", "--data-dir", dir + "-new"], ["init", "--resident-window-months", "3", "--data-dir", dir + "-new"],
            ["init", "--resident-window-months", "0", "--data-dir", dir + "-new"], ["frobnicate"], ["balance"], ["inspect", "segment", "2026-13"],
            ["balance", "+5"], ["balance", " 5"], ["balance", "-1"], ["balance", "0x"], ["archive", "--before", "2026-1"],
            ["verify", "--months-in-parallel", "0"], ["verify", "--months-in-parallel", "5"],
        ]
        for arguments in cases {
            let output = try Ctl.run(arguments + (arguments.first == "init" || arguments.first == "frobnicate" ? [] : ["--data-dir", dir]), input: "")
            Self.expectBadInput(output, arguments.joined(separator: " "))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "-new"))
    }

    /// `recover` names its source, and on a directory whose WAL is whole it
    /// has nothing to restore: exit 2, one line, no byte changed.
    @Test func recoverFromSegmentsRefusesWhenThereIsNothingToRestore() throws {
        let dir = try Ctl.freshDirectory()
        Self.expectBadInput(try Ctl.run(["recover", "--data-dir", dir]), "recover without a source", naming: "--from-segments")
        try Ctl.run(["account", "create", "--id", "1", "--ledger", "840", "--data-dir", dir])
        let before = try FileManager.default.subpathsOfDirectory(atPath: dir).sorted().map { ($0, FileManager.default.contents(atPath: dir + "/" + $0)) }
        Self.expectBadInput(try Ctl.run(["recover", "--from-segments", "--data-dir", dir]), "recover on a whole WAL", naming: "nothing to restore")
        let after = try FileManager.default.subpathsOfDirectory(atPath: dir).sorted().map { ($0, FileManager.default.contents(atPath: dir + "/" + $0)) }
        let unchanged = before.map(\.0) == after.map(\.0) && zip(before, after).allSatisfy { $0.1 == $1.1 }
        #expect(unchanged, "a refused recover changed the directory")
    }

    @Test func postAcceptsExactlyTheDocumentedGrammar() throws {
        let dir = try Ctl.freshDirectory()
        for id in 1...2 { try Ctl.run(["account", "create", "--id", "\(id)", "--ledger", "840", "--data-dir", dir]) }
        let postings = #""postings":[{"account":"1","debit":"5"},{"account":"2","credit":"5"}]"#
        let bad: [(String, [UInt8], String)] = [
            ("plus sign", Array(#"{"id":"+5",\#(postings)}"#.utf8), "'+5'"),
            ("leading space", Array(#"{"id":" 5",\#(postings)}"#.utf8), "' 5'"),
            ("exponent", Array(#"{"id":1e3,\#(postings)}"#.utf8), "1e3"),
            ("fraction", Array(#"{"id":5.0,\#(postings)}"#.utf8), "5.0"),
            ("negative", Array(#"{"id":-5,\#(postings)}"#.utf8), "-5"),
            ("2^53", Array(#"{"id":9007199254740992,\#(postings)}"#.utf8), "2^53"),
            ("duplicate key", Array(#"{"id":"5","id":"6",\#(postings)}"#.utf8), "duplicate key"),
            ("invalid UTF-8", Array(#"{"id":"5","metadata":""#.utf8) + [0xC3, 0x28] + Array(#"",\#(postings)}"#.utf8), "UTF-8"),
            ("overlong UTF-8", Array(#"{"id":"5","metadata":""#.utf8) + [0xC0, 0xAF] + Array(#"",\#(postings)}"#.utf8), "UTF-8"),
            ("two kinds", Array(#"{"createAccount":{"id":"9","ledger":840},"id":"5",\#(postings)}"#.utf8), "nothing else"),
            ("close plus entry", Array(#"{"closeAccount":"1","kind":"posted"}"#.utf8), "nothing else"),
            ("trailing garbage", Array(#"{"id":"5",\#(postings)} x"#.utf8), "after the JSON value"),
            ("deep", Array((String(repeating: "[", count: 40) + String(repeating: "]", count: 40)).utf8), "deeper"),
        ]
        for (name, line, naming) in bad {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Ctl.ledgerctlPath)
            process.arguments = ["post", "--data-dir", dir]
            let out = Pipe()
            let err = Pipe()
            let inp = Pipe()
            (process.standardOutput, process.standardError, process.standardInput) = (out, err, inp)
            try process.run()
            inp.fileHandleForWriting.write(Data(Array(#"{"id":"100",\#(postings)}"#.utf8) + [0x0A] + line))
            try inp.fileHandleForWriting.close()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            Self.expectBadInput(LedgerCtlTests.Output(status: process.terminationStatus, stdout: stdout, stderr: stderr), name, naming: naming)
            #expect(stderr.contains("line 2:"), "\(name): \(stderr)")
        }
        // Nothing was posted, not even the valid first line.
        #expect(try Ctl.run(["lookup", "100", "--data-dir", dir]).status == 1)
        // What the grammar allows: decimal and 0x strings, small integers, escapes, UTF-8.
        let good = try Ctl.run(
            ["post", "--data-dir", dir],
            input: #"""
                {"id":"0x65","metadata":"caf\u00e9 ☕ \ud83d\ude00",\#(postings)}
                {"id":102,"code":7,\#(postings)}
                """#)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(
            good.stdout.contains(#"{"line":1,"id":"101","result":"ok"}"#) && good.stdout.contains(#"{"line":2,"id":"102","result":"ok"}"#), "\(good.stdout)")
    }

    /// On a full disk every line still gets a result line: the applied ones
    /// their result, the rest "notApplied" with the reason; exit 3.
    @Test func everyLineGetsAResultLineWhenTheDiskFills() throws {
        let mountPoint = temporaryDirectory("full-disk")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mountPoint]
        try mount.run()
        mount.waitUntilExit()
        try #require(mount.terminationStatus == 0, "mounting a small tmpfs needs privileges")
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [mountPoint]
            try? umount.run()
            umount.waitUntilExit()
        }
        let dir = mountPoint + "/ledger"
        #expect(try Ctl.run(["init", "--data-dir", dir, "--wal-file-mib", "1"]).status == 0)
        for id in 1...2 { try Ctl.run(["account", "create", "--id", "\(id)", "--ledger", "840", "--data-dir", dir]) }
        let count = 30_000
        let lines = (1...count).map {
            #"{"id":"\#(1_000 + $0)","metadata":"order-\#($0)-padding-padding-padding","postings":[{"account":"1","debit":"1"},{"account":"2","credit":"1"}]}"#
        }
        let post = try Ctl.run(["post", "--batch-size", "500", "--data-dir", dir], input: lines.joined(separator: "\n"))
        #expect(post.status == 3, "\(post.stderr)")
        let results = post.stdout.split(separator: "\n")
        #expect(results.count == count, "\(results.count) result lines for \(count) input lines")
        #expect(results.contains { $0.contains(#""result":"ok""#) })
        #expect(results.last?.contains(#""result":"notApplied""#) == true && results.last?.contains("reason") == true, "\(results.last ?? "")")
    }
}
