// `verify` of a sealed month's account-ordered copy
// (Specs/account-copy-format.md): derived and rebuildable, so damage is a
// warning (queries of the damaged part refuse, naming the file, until the
// copy is deleted and built again), named with file and offset.

extension SegmentCheck {
    /// Checks the month's copy, if it has one, after its index file was
    /// compared with the segment's re-encoded index.
    func checkAccountCopy(_ month: UTCMonth, form: SegmentForm, seal: SegmentSeal, segment: any ReadableFile, report: inout VerifyReport) {
        let path = layout.accountCopyPath(month)
        guard storage.fileExists(path) else { return }
        guard form == .segment else {
            report.problems.append(
                .init(
                    severity: .warning, file: path, offset: nil, kind: "account copy of an archived month",
                    message: "left by an interrupted archival; the next copy build deletes it"))
            return
        }
        // Without a usable index there is nothing to check the copy against
        // (the index's own problem is reported by `checkMonthIndex`).
        guard
            let index = try? MonthIndexFile(
                storage: storage, path: layout.segmentIndexPath(month), month: month, directoryID: directoryID, monthRoot: seal.monthRoot)
        else { return }
        do {
            let seed = try SegmentReader.readHeader(file: segment).recordSeed
            let copy = try AccountCopyFile(
                storage: storage, path: path, month: month, directoryID: directoryID, monthRoot: seal.monthRoot, refCount: index.refCount, seed: seed)
            try copy.checkAll(against: index)
            report.accountCopiesChecked += 1
        } catch let error as LedgerError {
            report.problems.append(
                .init(
                    severity: .warning, file: error.path ?? path, offset: error.offset, kind: "account copy damaged",
                    message: "\(error.message) (derived: delete the file and the next copy build replaces it)"))
        } catch {
            report.problems.append(.init(severity: .warning, file: path, offset: nil, kind: "account copy damaged", message: "\(error)"))
        }
    }
}
