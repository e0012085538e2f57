import Foundation
import LCMTestSupport
import Testing

/// The hive writer, checked field by field and then against hivex on the host (no appliance).
@Suite struct RegistryHiveTests {
    let hive = RegistryHive.minimal()

    @Test func baseBlock() {
        #expect(hive.count == 8192)
        #expect(Array(hive[0..<4]) == Array("regf".utf8))
        #expect(u32(hive, 4) == u32(hive, 8), "sequence numbers must match")
        #expect(u32(hive, 4) != 0)
        #expect(u32(hive, 20) == 1)                      // major
        #expect(u32(hive, 24) == 5)                      // minor
        #expect(u32(hive, 28) == 0)                      // primary file
        #expect(u32(hive, 32) == 1)                      // direct memory load
        #expect(u32(hive, 36) == 0x20)                   // root cell right after the hbin header
        #expect(u32(hive, 40) == UInt32(hive.count - 4096))
        #expect(u64(hive, 12) == 133_485_408_000_000_000) // 2024-01-01 as FILETIME
    }

    @Test func checksumIsXorOfFirst508Bytes() {
        var expected: UInt32 = 0
        for i in stride(from: 0, to: 508, by: 4) { expected ^= u32(hive, i) }
        #expect(u32(hive, 508) == expected)
        #expect(RegistryHive.checksum(ofBaseBlock: hive[0..<4096]) == expected)
        #expect(expected != 0 && expected != 0xFFFF_FFFF)
    }

    /// Windows rewrites a checksum of 0 or 0xFFFFFFFF, hivex does not: the writer avoids both
    /// by moving the timestamp 100 ns.
    @Test func checksumNeverTakesTheValuesWindowsRewrites() {
        // With timestamp 0 the checksum is the XOR of every other word; using that value as
        // the timestamp's low word would make the checksum 0.
        let base = u32(RegistryHive.minimal(fileTime: 0), 508)
        let h = RegistryHive.minimal(fileTime: UInt64(base))
        #expect(u64(h, 12) == UInt64(base) + 1)
        #expect(u32(h, 508) != 0)
        #expect(RegistryHive.checksum(ofBaseBlock: h[0..<4096]) == u32(h, 508))
    }

    @Test func hiveBinHeader() {
        #expect(Array(hive[4096..<4100]) == Array("hbin".utf8))
        #expect(u32(hive, 4096 + 4) == 0)                // offset of the first bin
        #expect(u32(hive, 4096 + 8) == 4096)             // bin size
        #expect(u64(hive, 4096 + 20) == u64(hive, 12))
    }

    @Test func cellsTileTheBinWithAlignedSizes() {
        let cells = walkCells(hive)
        #expect(cells.map(\.offset).first == 0x20)
        #expect(cells.allSatisfy { abs($0.size) % 8 == 0 && abs($0.size) >= 8 })
        #expect(cells.map { Int(abs($0.size)) }.reduce(0, +) == 4096 - 32)
        #expect(cells.count == 3)
        #expect(cells.prefix(2).allSatisfy { $0.size < 0 }, "nk and sk are allocated")
        #expect(cells.last.map { $0.size > 0 } == true, "the tail is one free cell")
        #expect(cells[0].signature == "nk")
        #expect(cells[1].signature == "sk")
    }

    @Test func rootKeyNode() throws {
        let cells = walkCells(hive)
        let nk = 4096 + 0x20 + 4
        let flags = u16(hive, nk + 0x02)
        #expect(flags & 0x0004 != 0, "KEY_HIVE_ENTRY")
        #expect(flags & 0x0020 != 0, "KEY_COMP_NAME")
        #expect(u32(hive, nk + 0x14) == 0)               // subkeys
        #expect(u32(hive, nk + 0x1C) == 0xFFFF_FFFF)     // subkey list
        #expect(u32(hive, nk + 0x24) == 0)               // values
        #expect(u32(hive, nk + 0x28) == 0xFFFF_FFFF)     // value list
        #expect(u32(hive, nk + 0x2C) == UInt32(cells[1].offset))
        #expect(u32(hive, nk + 0x30) == 0xFFFF_FFFF)     // class name
        #expect(u16(hive, nk + 0x48) == 4)
        #expect(Array(hive[(nk + 0x4C)..<(nk + 0x50)]) == Array("ROOT".utf8))
        #expect(Int(-cells[0].size) == (4 + 0x4C + 4 + 7) / 8 * 8)
    }

    @Test func securityCellLinksToItself() {
        let cells = walkCells(hive)
        let sk = 4096 + cells[1].offset + 4
        #expect(u32(hive, sk + 0x04) == UInt32(cells[1].offset))   // flink
        #expect(u32(hive, sk + 0x08) == UInt32(cells[1].offset))   // blink
        #expect(u32(hive, sk + 0x0C) == 1)                          // one key refers to it
        let sdSize = Int(u32(hive, sk + 0x10))
        #expect(Int(-cells[1].size) == (4 + 0x14 + sdSize + 7) / 8 * 8)
        #expect(hive[sk + 0x14] == 1)                                // SD revision
        #expect(u16(hive, sk + 0x16) & 0x8000 != 0)                  // self-relative
    }

    @Test func nonLatin1RootNameIsStoredAsUTF16() {
        let h = RegistryHive.minimal(rootName: "Ключ")
        let nk = 4096 + 0x20 + 4
        #expect(u16(h, nk + 0x02) & 0x0020 == 0)
        #expect(u16(h, nk + 0x48) == 8)
        #expect(u16(h, nk + 0x4C) == 0x041A)
    }

    @Test func outputIsDeterministicAndVersioned() {
        #expect(RegistryHive.minimal() == hive)
        let v3 = RegistryHive.minimal(minorVersion: 3)
        #expect(u32(v3, 24) == 3)
        #expect(RegistryHive.checksum(ofBaseBlock: v3[0..<4096]) == u32(v3, 508))
        let other = RegistryHive.minimal(lastWritten: Date(timeIntervalSince1970: 0))
        #expect(u64(other, 12) == 116_444_736_000_000_000)
    }

    /// hivex on the host is the oracle: it must open the hive, accept edits and commit them.
    @Test(.enabled(if: findTool("hivexsh") != nil && findTool("hivexget") != nil))
    func hivexOnTheHostEditsTheHive() throws {
        let dir = try makeTemporaryDirectory("lcm-hive")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("SOFTWARE").path
        try Data(hive).write(to: URL(fileURLWithPath: file))

        let empty = try runTool("hivexsh", [file], input: "ls\nlsval\n")
        #expect(empty.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)

        let script = """
            add Microsoft
            cd Microsoft
            add Windows NT
            cd Windows NT
            add CurrentVersion
            cd CurrentVersion
            setval 2
            ProductName
            string:Windows 10 Pro
            CurrentMajorVersionNumber
            dword:0xa
            commit

            """
        try runTool("hivexsh", ["-w", file], input: script)
        let name = try runTool("hivexget", [file, "Microsoft\\Windows NT\\CurrentVersion", "ProductName"])
        #expect(name.stdout == "Windows 10 Pro\n")
        let major = try runTool("hivexget", [file, "Microsoft\\Windows NT\\CurrentVersion", "CurrentMajorVersionNumber"])
        #expect(major.stdout == "10\n")
    }
}

struct Cell {
    let offset: Int
    let size: Int32
    let signature: String
}

/// The cells of the first hive bin, in order.
func walkCells(_ hive: [UInt8]) -> [Cell] {
    let binStart = 4096
    let binEnd = binStart + Int(u32(hive, binStart + 8))
    var cells: [Cell] = []
    var offset = binStart + 32
    while offset < binEnd {
        let size = Int32(bitPattern: u32(hive, offset))
        guard size != 0 else { break }
        let signature = String(decoding: hive[(offset + 4)..<(offset + 6)], as: UTF8.self)
        cells.append(Cell(offset: offset - binStart, size: size, signature: signature))
        offset += Int(abs(size))
    }
    return cells
}

func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
func u32(_ b: [UInt8], _ o: Int) -> UInt32 { UInt32(u16(b, o)) | UInt32(u16(b, o + 2)) << 16 }
func u64(_ b: [UInt8], _ o: Int) -> UInt64 { UInt64(u32(b, o)) | UInt64(u32(b, o + 4)) << 32 }
