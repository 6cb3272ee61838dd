// `verify` of the open month's saved index (Specs/open-month-index-format.md):
// the month's index and holds as the rebuilt month stood at the saved end
// are encoded again and compared with the file byte for byte. Damage a CRC
// catches is a warning (an open ignores the file and indexes the month from
// its records); a file whose CRCs hold but whose content differs is an
// error (an open would serve it); a saved index beside a sealed month is a
// warning (never read; the next seal deletes it).

/// What the scan has seen of a month so far.
struct RecordsSeen {
    var count = 0
    var first: (lsn: UInt64, timestamp: UInt64) = (0, 0)
    var last: (lsn: UInt64, timestamp: UInt64) = (0, 0)

    mutating func counted(_ record: SegmentRecord) {
        if count == 0 { first = (record.header.lsn, record.header.timestamp) }
        last = (record.header.lsn, record.header.timestamp)
        count += 1
    }
}

/// The rebuilt month at a saved index's end (a copy of the builder: it
/// shares the arrays until the scan appends past that point).
struct SavedIndexPoint {
    var index: MonthIndexBuilder
    var holds: [UInt128: SegmentHold]
    var records: RecordsSeen
}

extension SegmentCheck {
    /// The covered end of the month's saved index, when it has one whose
    /// header reads; a damaged one is reported (and nil).
    func savedOpenMonthIndexEnd(_ month: UTCMonth, report: inout VerifyReport) -> Int? {
        let path = layout.openMonthIndexPath(month)
        guard storage.fileExists(path) else { return nil }
        do {
            let file = try storage.openFileForReading(path)
            defer { file.close() }
            let bytes = try file.readExactly(min(OpenMonthIndexFormat.headerBytes, try file.size()), at: 0)
            guard let header = bytes.withUnsafeBytes({ OpenMonthIndexFormat.Header.decode($0) }), header.month == month,
                header.directoryID == directoryID
            else {
                throw LedgerError(.corruption, "its header is damaged, of another version, month or directory", path: path, offset: 0)
            }
            return header.coveredEndOffset
        } catch {
            report.problems.append(Self.savedIndexDamaged(path, error))
            return nil
        }
    }

    /// Compares the saved index (covered end `savedEnd`, nil when there is
    /// none or its header is damaged) with the rebuilt month at its end.
    func checkOpenMonthIndex(
        _ month: UTCMonth, savedEnd: Int?, sealed: Bool, at point: SavedIndexPoint?, rootSoFar: [UInt8]?, report: inout VerifyReport
    ) {
        let path = layout.openMonthIndexPath(month)
        guard let savedEnd else { return }
        if sealed {
            report.problems.append(
                .init(
                    severity: .warning, file: path, offset: nil, kind: "open month index of a sealed month",
                    message: "never read (the month is sealed); the next seal deletes it, or delete it"))
            return
        }
        guard let point, let rootSoFar else {
            // An open finds the same and ignores the file: a warning.
            report.problems.append(
                .init(
                    severity: .warning, file: path, offset: 40, kind: "open month index damaged",
                    message:
                        "its covered end \(savedEnd) is not where a record of the segment starts or the records end (derived: an open ignores it and indexes the month from its records; delete it)"
                ))
            return
        }
        do {
            let file = try storage.openFileForReading(path)
            defer { file.close() }
            let covered = OpenMonthIndexFile.Covered(
                endOffset: savedEnd, rootSoFar: rootSoFar, recordCount: point.records.count, first: point.records.first, last: point.records.last)
            guard let offset = try OpenMonthIndexFile.firstDifference(file, point.index, holds: point.holds, covered: covered, directoryID: directoryID)
            else { return }
            // Damage its CRCs catch is ignored by an open; a file that reads
            // would be served.
            _ = try OpenMonthIndexFile.read(storage: storage, path: path, month: month, directoryID: directoryID, reserveEvents: 0)
            report.problems.append(
                .init(
                    severity: .error, file: path, offset: offset, kind: "open month index differs",
                    message: "the saved index is not the index of its segment; delete the file and the next open indexes the month from its records"))
        } catch {
            report.problems.append(Self.savedIndexDamaged(path, error))
        }
    }

    static func savedIndexDamaged(_ path: String, _ error: any Error) -> VerifyReport.Problem {
        let ledgerError = error as? LedgerError
        return .init(
            severity: .warning, file: ledgerError?.path ?? path, offset: ledgerError?.offset, kind: "open month index damaged",
            message: "\(ledgerError?.message ?? "\(error)") (derived: an open ignores it and indexes the month from its records; delete it)")
    }
}
