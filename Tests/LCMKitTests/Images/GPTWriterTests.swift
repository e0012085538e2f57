import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// The GPT lcm writes itself (user-data disks): sgdisk, a reader independent of lcm, finds it
/// valid, and lcm's own decoder reads back the partition it was given.
@Suite struct GPTWriterTests {
    @Test func onePartitionTableIsValidForSgdiskAndDecodesBack() throws {
        let scratch = ScratchDirectory(prefix: "lcm-gpt")
        let disk = scratch.file("data.img").path
        let size: Int64 = 3 << 30   // 3 GiB, sparse
        #expect(FileManager.default.createFile(atPath: disk, contents: nil))
        #expect(truncate(disk, __off_t(size)) == 0)
        let sectors = size / GPTWriter.sectorSize
        let unique = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"
        let entry = GPTWriter.singlePartition(diskSectors: sectors, typeGUID: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
                                              uniqueGUID: unique, name: "Basic data partition")
        #expect(entry.firstLBA == 2048 && (entry.lastLBA + 1) % 2048 == 0 && entry.lastLBA <= sectors - 34)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: disk))
        for write in GPTWriter.tableWrites(diskSectors: sectors, diskGUID: "6E3D2A1B-0C4F-4E8D-9B7A-112233445566", entries: [entry]) {
            try handle.seek(toOffset: UInt64(write.offset))
            try handle.write(contentsOf: Data(write.bytes))
        }
        try handle.close()

        let verified = try ProgramRun.run("/usr/sbin/sgdisk", ["--verify", disk])
        #expect(verified.status == 0 && verified.stdout.contains("No problems found"), "\(verified.stdout)\(verified.stderr)")
        let info = try ProgramRun.run("/usr/sbin/sgdisk", ["--info=1", disk])
        #expect(info.stdout.contains("Partition GUID code: EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"), "\(info.stdout)")
        #expect(info.stdout.contains("Partition unique GUID: \(unique)"), "\(info.stdout)")
        #expect(info.stdout.contains("First sector: 2048") && info.stdout.contains("'Basic data partition'"), "\(info.stdout)")

        let head = try #require(try FileHandle(forReadingAtPath: disk)?.read(upToCount: 34 * 512))
        let table = try #require(PartitionTable.decode(Array(head)))
        #expect(table.kind == .gpt && table.entries.count == 1)
        #expect(table.entries.first?.startBytes == 2048 * 512)
        #expect(table.entries.first?.uniqueGUID == GPTWriter.guidBytes(unique))
    }

    /// The IEEE CRC-32 of the standard check string.
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(GPTWriter.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}
