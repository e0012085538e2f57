import Foundation

/// The bytes of a GUID partition table as Windows and parted lay it out: a protective MBR, the
/// primary header and its 128 entries at the start of the disk, the entries again and the backup
/// header in its last 33 sectors. Written with two writes instead of a partitioning program run.
public enum GPTWriter {
    public static let sectorSize: Int64 = 512

    public struct Entry: Sendable, Equatable {
        public var typeGUID: String
        public var uniqueGUID: String
        public var firstLBA: Int64
        public var lastLBA: Int64
        public var name: String

        public init(typeGUID: String, uniqueGUID: String, firstLBA: Int64, lastLBA: Int64, name: String) {
            self.typeGUID = typeGUID; self.uniqueGUID = uniqueGUID
            self.firstLBA = firstLBA; self.lastLBA = lastLBA; self.name = name
        }
    }

    /// The writes (disk offset, bytes) that create the table on a disk of `diskSectors` sectors.
    public static func tableWrites(diskSectors: Int64, diskGUID: String, entries: [Entry]) -> [(offset: Int64, bytes: [UInt8])] {
        let table = entryBytes(entries)
        let primary = header(diskSectors: diskSectors, current: 1, backup: diskSectors - 1, entriesLBA: 2, diskGUID: diskGUID, entries: table)
        let backup = header(diskSectors: diskSectors, current: diskSectors - 1, backup: 1, entriesLBA: diskSectors - 33,
                            diskGUID: diskGUID, entries: table)
        return [(0, protectiveMBR(diskSectors: diskSectors) + primary + table), ((diskSectors - 33) * sectorSize, table + backup)]
    }

    /// One GPT partition over the whole disk, 1 MiB aligned at both ends (as Windows' Disk
    /// Management and `parted` make a data disk).
    public static func singlePartition(diskSectors: Int64, typeGUID: String, uniqueGUID: String, name: String) -> Entry {
        let mib = (1 << 20) / sectorSize
        let end = (diskSectors - 34) / mib * mib
        return Entry(typeGUID: typeGUID, uniqueGUID: uniqueGUID, firstLBA: mib, lastLBA: end - 1, name: name)
    }

    static func protectiveMBR(diskSectors: Int64) -> [UInt8] {
        var sector = [UInt8](repeating: 0, count: 512)
        let count = UInt32(min(diskSectors - 1, Int64(UInt32.max)))
        // CHS fields say "use LBA" (0xFE 0xFF 0xFF), as tools do for disks past the CHS limit.
        let entry: [UInt8] = [0, 0xFE, 0xFF, 0xFF, 0xEE, 0xFE, 0xFF, 0xFF] + le(UInt32(1)) + le(count)
        sector.replaceSubrange(0x1BE..<0x1CE, with: entry)
        sector[510] = 0x55
        sector[511] = 0xAA
        return sector
    }

    /// 128 entries of 128 bytes (32 sectors).
    static func entryBytes(_ entries: [Entry]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 128 * 128)
        for (i, p) in entries.prefix(128).enumerated() {
            var entry = guidBytes(p.typeGUID) + guidBytes(p.uniqueGUID)
            entry += le(UInt64(p.firstLBA)) + le(UInt64(p.lastLBA)) + le(UInt64(0))
            let name = p.name.utf16.prefix(36).flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
            entry += name + [UInt8](repeating: 0, count: 72 - name.count)
            bytes.replaceSubrange(128 * i..<128 * (i + 1), with: entry)
        }
        return bytes
    }

    /// One sector holding a GPT header.
    static func header(diskSectors: Int64, current: Int64, backup: Int64, entriesLBA: Int64, diskGUID: String, entries: [UInt8]) -> [UInt8] {
        var header = Array("EFI PART".utf8) + le(UInt32(0x0001_0000)) + le(UInt32(92)) + le(UInt32(0)) + le(UInt32(0))
        header += le(UInt64(current)) + le(UInt64(backup)) + le(UInt64(34)) + le(UInt64(diskSectors - 34))
        header += guidBytes(diskGUID) + le(UInt64(entriesLBA)) + le(UInt32(128)) + le(UInt32(128))
        header += le(crc32(entries))
        header.replaceSubrange(16..<20, with: le(crc32(header)))
        return header + [UInt8](repeating: 0, count: 512 - header.count)
    }

    /// A GUID as Windows and GPT store it: the first three fields little-endian, the rest as written.
    public static func guidBytes(_ guid: String) -> [UInt8] {
        let hex = guid.replacingOccurrences(of: "-", with: "")
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) {
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        guard bytes.count == 16 else { return [UInt8](repeating: 0, count: 16) }
        return Array(bytes[0..<4].reversed()) + Array(bytes[4..<6].reversed())
            + Array(bytes[6..<8].reversed()) + Array(bytes[8..<16])
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (IEEE 802.3, reflected), as GPT uses.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = crcTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    private static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
