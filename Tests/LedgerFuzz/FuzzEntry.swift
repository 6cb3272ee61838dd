// The fuzzing executable. Built with `make fuzz` (libFuzzer and
// AddressSanitizer, -DLEDGER_FUZZ) it exports LLVMFuzzerTestOneInput and
// runs the target named by $LEDGER_FUZZ_TARGET. Built plainly (`swift
// build`), it replays files: `LedgerFuzz <target> <file or directory>...`.

import Foundation
import LedgerFuzzTargets

#if LEDGER_FUZZ
    let selectedTarget: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["LEDGER_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("set LEDGER_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return target
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        selectedTarget.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
#else
    @main
    enum Replay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count >= 2 else {
                FileHandle.standardError.write(
                    Data("usage: LedgerFuzz <\(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|"))> <file or directory>...\n".utf8))
                exit(2)
            }
            var count = 0
            for path in arguments.dropFirst() {
                for file in FuzzCorpus.files(at: URL(fileURLWithPath: path)) {
                    target.run(FuzzCorpus.bytes(file))
                    count += 1
                }
            }
            print("\(target.rawValue): \(count) inputs, no crash")
        }
    }
#endif
