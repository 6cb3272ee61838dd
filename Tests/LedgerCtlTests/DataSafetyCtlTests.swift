import Foundation
import LedgerEngine
import LedgerTestSupport
import Testing

/// Commands that must destroy nothing: each runs the real binaries on a
/// populated directory and compares every file's bytes before and after.
@Suite struct DataSafetyCtlTests {
    typealias Ctl = LedgerCtlTests

    /// Every regular file under `root` with its bytes (LOCK aside: an flock
    /// target whose existence is not data).
    static func tree(_ root: String) -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let name = enumerator?.nextObject() as? String {
            let path = root + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue, name != "LOCK" else { continue }
            files[name] = FileManager.default.contents(atPath: path)
        }
        return files
    }

    /// A directory with accounts, entries, a snapshot and a segment.
    static func populatedDirectory() throws -> String {
        let dir = try Ctl.freshDirectory()
        try Ctl.run(["account", "create", "--id", "1", "--ledger", "840", "--data-dir", dir])
        try Ctl.run(["account", "create", "--id", "2", "--ledger", "840", "--data-dir", dir])
        let lines = (1...20).map { #"{"id":"\#(100 + $0)","postings":[{"account":"1","debit":"\#($0)"},{"account":"2","credit":"\#($0)"}]}"# }
        let post = try Ctl.run(["post", "--data-dir", dir], input: lines.joined(separator: "\n"))
        #expect(post.status == 0, "\(post.stderr)")
        let snapshot = try Ctl.run(["snapshot", "--data-dir", dir])
        #expect(snapshot.status == 0, "\(snapshot.stderr)")
        return dir
    }

    static var serverPath: String { URL(fileURLWithPath: Ctl.ledgerctlPath).deletingLastPathComponent().appendingPathComponent("LedgerServer").path }

    @Test func initOverLedgerFilesWithoutMetaRefusesAndChangesNothing() throws {
        let dir = try Self.populatedDirectory()
        try FileManager.default.removeItem(atPath: dir + "/ledger.meta")
        let before = Self.tree(dir)
        #expect(before.keys.contains("wal-00000000000000000001.log") && before.keys.contains { $0.hasPrefix("snapshots/") })

        let initialize = try Ctl.run(["init", "--data-dir", dir])
        #expect(initialize.status == 3)
        #expect(initialize.stderr.contains("wal-00000000000000000001.log") && initialize.stderr.contains("inspect wal"), "\(initialize.stderr)")
        #expect(initialize.stderr.split(separator: "\n").count == 1)
        #expect(Self.tree(dir) == before)

        // The error of any other command names the files and never advises init.
        let balance = try Ctl.run(["balance", "1", "--data-dir", dir])
        #expect(balance.status == 3)
        #expect(balance.stderr.contains("ledger.meta is missing") && balance.stderr.contains("inspect wal"), "\(balance.stderr)")
        #expect(!balance.stderr.contains("run `ledgerctl init`"))
        #expect(Self.tree(dir) == before)
    }

    @Test func serverCreatingOverLedgerFilesRefusesWithExitThreeAndChangesNothing() throws {
        let dir = try Self.populatedDirectory()
        try FileManager.default.removeItem(atPath: dir + "/ledger.meta")
        let before = Self.tree(dir)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.serverPath)
        process.arguments = ["--data-dir", dir, "--create-dev-key", "--port", "0", "--no-metrics"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 3, "\(stderr)")
        #expect(stderr.contains("refusing to initialise") && stderr.contains("wal-00000000000000000001.log"), "\(stderr)")
        #expect(Self.tree(dir) == before)
    }

    @Test func commandsOnADirectoryThatIsNoLedgerLeaveNoLockFile() throws {
        let dir = temporaryDirectory("not-a-ledger")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/notes.txt", contents: Data("mine".utf8))
        for arguments in [["balance", "1"], ["verify"], ["lookup", "5"], ["history", "1"]] {
            let output = try Ctl.run(arguments + ["--data-dir", dir])
            #expect(output.status == 3, "\(arguments): \(output.stderr)")
            #expect(output.stderr.contains("not a ledger data directory"), "\(arguments): \(output.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["notes.txt"])
    }

    /// The drill's two entries: 2^128 - 1 from 1 to 2, then 1 from 3 to 4 in
    /// the same ledger. The second is refused, and the auditor's tools run.
    @Test func aClientCannotBreakVerifyOrDigestWithLedgerTotals() throws {
        let dir = try Ctl.freshDirectory()
        for id in 1...4 { try Ctl.run(["account", "create", "--id", "\(id)", "--ledger", "840", "--data-dir", dir]) }
        let max = String(UInt128.max)
        let post = try Ctl.run(
            ["post", "--data-dir", dir],
            input: """
                {"id":"10","postings":[{"account":"1","debit":"\(max)"},{"account":"2","credit":"\(max)"}]}
                {"id":"11","postings":[{"account":"3","debit":"1"},{"account":"4","credit":"1"}]}
                """)
        #expect(post.status == 0, "\(post.stderr)")
        #expect(
            post.stdout.contains(#"{"line":1,"id":"10","result":"ok"}"#) && post.stdout.contains(#"{"line":2,"id":"11","result":"ledgerTotalOverflow"}"#),
            "\(post.stdout)")
        let verify = try Ctl.run(["verify", "--data-dir", dir])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let digest = try Ctl.run(["digest", "--data-dir", dir])
        #expect(digest.status == 0, "\(digest.stderr)")
        // After a snapshot the totals are recomputed from the accounts and still bound.
        #expect(try Ctl.run(["snapshot", "--data-dir", dir]).status == 0)
        let again = try Ctl.run(["post", "--data-dir", dir], input: #"{"id":"12","postings":[{"account":"3","debit":"1"},{"account":"4","credit":"1"}]}"#)
        #expect(again.stdout.contains("ledgerTotalOverflow"), "\(again.stdout)")
    }

    /// The read commands on a stopped directory.
    static func readCommands(_ dir: String) -> [[String]] {
        let month = String(DataDirectoryLayout.segmentFileName(UTCMonth(containing: UInt64(Date().timeIntervalSince1970 * 1e9))).prefix(7))
        return [
            ["balance", "1", "2"], ["balance", "1", "--as-of", String(UInt64(Date().timeIntervalSince1970 * 1e9))], ["lookup", "101"],
            ["lookup", "101", "--wal"], ["history", "1"], ["verify"], ["digest"], ["inspect", "wal"], ["inspect", "segment", month],
        ].map { $0 + ["--data-dir", dir] }
    }

    @Test func readsLeaveTheDirectoryByteIdentical() throws {
        let dir = try Self.populatedDirectory()
        let before = Self.tree(dir)
        for arguments in Self.readCommands(dir) {
            let output = try Ctl.run(arguments)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
            #expect(Self.tree(dir) == before, "\(arguments) changed the directory")
        }
    }

    /// On a real read-only mount (a bind mount remounted read-only; needs the
    /// mount privilege that the test machines have, see docs/testing.md).
    @Test func readsWorkOnAReadOnlyMount() throws {
        let dir = try Self.populatedDirectory()
        let mountPoint = temporaryDirectory("ro-mount")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        func sh(_ command: String) -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            process.standardError = FileHandle.nullDevice
            try? process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }
        try #require(sh("mount --bind '\(dir)' '\(mountPoint)' && mount -o remount,bind,ro '\(mountPoint)'") == 0, "mount needs privileges")
        defer { _ = sh("umount '\(mountPoint)'") }
        #expect(sh("touch '\(mountPoint)/probe'") != 0, "the mount is writable")
        for arguments in Self.readCommands(mountPoint) {
            let output = try Ctl.run(arguments)
            #expect(output.status == 0, "\(arguments): \(output.stderr)")
        }
        // A write is refused with exit 3, naming the read-only file system.
        let post = try Ctl.run(
            ["post", "--data-dir", mountPoint], input: #"{"id":"900","postings":[{"account":"1","debit":"1"},{"account":"2","credit":"1"}]}"#)
        #expect(post.status == 3 && post.stderr.contains("Read-only file system"), "\(post.stderr)")
    }

    @Test func restoringAMonthThatIsNotArchivedIsBadInputAndWritesNothing() throws {
        let dir = try Self.populatedDirectory()
        let before = Self.tree(dir)
        let month = String(DataDirectoryLayout.segmentFileName(UTCMonth(containing: UInt64(Date().timeIntervalSince1970 * 1e9))).prefix(7))
        for (target, says) in [(month, "not archived"), ("2001-01", "no segment and no archive")] {
            let output = try Ctl.run(["restore", "--month", target, "--data-dir", dir])
            #expect(output.status == 2 && output.stderr.contains(says), "\(target): \(output.status) \(output.stderr)")
            #expect(output.stderr.split(separator: "\n").count == 1)
        }
        #expect(Self.tree(dir) == before)
    }
}
