import CRC32C
import LedgerTestSupport
import Testing

@Suite struct CRC32CTests {
    func crc(_ bytes: [UInt8], software: Bool = false) -> UInt32 {
        bytes.withUnsafeBytes {
            software ? ledger_crc32c_extend_software(0, $0.baseAddress, $0.count) : ledger_crc32c_extend(0, $0.baseAddress, $0.count)
        }
    }

    // RFC 3720 (iSCSI) appendix B.4 and the common check value.
    @Test func standardVectorsMatch() {
        #expect(crc(Array("123456789".utf8)) == 0xE306_9283)
        #expect(crc([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(crc([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(crc((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(crc((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(crc([]) == 0)
    }

    @Test func hardwareAndSoftwareAgreeOnEveryLengthAndAlignment() {
        var rng = SeededRandom(seed: 7)
        let data = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for start in 0..<9 {
            for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4000] {
                let slice = Array(data[start..<(start + length)])
                #expect(crc(slice) == crc(slice, software: true), "start \(start) length \(length)")
            }
        }
    }

    @Test func extendingInPiecesEqualsOneCall() {
        let bytes = Array("The quick brown fox jumps over the lazy dog".utf8)
        let whole = crc(bytes)
        let first = bytes.withUnsafeBytes { ledger_crc32c_extend(0, $0.baseAddress, 10) }
        let both = bytes.withUnsafeBytes { ledger_crc32c_extend(first, $0.baseAddress! + 10, $0.count - 10) }
        #expect(whole == both)
        #expect(whole == 0x2262_0404)
    }
}
