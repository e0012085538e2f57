import Foundation
import Guestfs

/// A disk's partition table read from its first sectors and decoded here. libguestfs answers the
/// same questions through parted and sgdisk, which the appliance starts anew for every call
/// (1-2 s each under TCG: 5 s of a 7.6 s inspection went there).
struct PartitionTable: Equatable {
    enum Kind: String { case mbr = "msdos", gpt }

    struct Entry: Equatable {
        /// Linux's number: MBR slot 1-4, GPT entry index + 1.
        var number: Int
        var startBytes: UInt64
        var sizeBytes: UInt64
        /// GPT only: the partition's unique GUID in on-disk byte order (as `MountedDevices` holds it).
        var uniqueGUID: [UInt8]?
        /// GPT only: the partition type GUID in on-disk byte order.
        var typeGUID: [UInt8]?

        /// Microsoft reserved partition (E3C9E316-0B5C-4DB8-817D-F92DF00215AE).
        var isMicrosoftReserved: Bool {
            typeGUID == [0x16, 0xE3, 0xC9, 0xE3, 0x5C, 0x0B, 0xB8, 0x4D, 0x81, 0x7D, 0xF9, 0x2D, 0xF0, 0x02, 0x15, 0xAE]
        }
    }

    var kind: Kind
    /// MBR only: the disk signature at 0x1B8.
    var diskSignature: [UInt8]?
    var entries: [Entry]

    static let sectorSize: UInt64 = 512

    /// Reads and decodes the table of `device`; nil when it has none lcm understands.
    static func read(_ g: GuestfsSession, device: String) throws -> PartitionTable? {
        let head = try g.preadDevice(device, count: 34 * Int(sectorSize), offset: 0)
        return decode(head)
    }

    /// Decodes an MBR or a GPT (with its entries) from the disk's first 34 sectors.
    static func decode(_ bytes: [UInt8]) -> PartitionTable? {
        guard bytes.count >= 512, bytes[510] == 0x55, bytes[511] == 0xAA else { return nil }
        let mbrEntries = (0..<4).map { slot -> (type: UInt8, start: UInt64, count: UInt64) in
            let base = 0x1BE + 16 * slot
            return (bytes[base + 4], UInt64(le32(bytes, base + 8)), UInt64(le32(bytes, base + 12)))
        }
        if mbrEntries.contains(where: { $0.type == 0xEE }) {
            return decodeGPT(bytes)
        }
        let entries = mbrEntries.enumerated().compactMap { index, entry -> Entry? in
            guard entry.type != 0, entry.count > 0 else { return nil }
            return Entry(number: index + 1, startBytes: entry.start * sectorSize, sizeBytes: entry.count * sectorSize)
        }
        return PartitionTable(kind: .mbr, diskSignature: Array(bytes[0x1B8..<0x1BC]), entries: entries)
    }

    private static func decodeGPT(_ bytes: [UInt8]) -> PartitionTable? {
        let header = Int(sectorSize)
        guard bytes.count >= header + 92, bytes[header..<header + 8].elementsEqual(Array("EFI PART".utf8)) else { return nil }
        let entriesLBA = le64(bytes, header + 72)
        let count = Int(le32(bytes, header + 80)), size = Int(le32(bytes, header + 84))
        guard size >= 128 else { return nil }
        var entries: [Entry] = []
        // The header comes from an image from outside: sector numbers past what bytes can address
        // would trap in plain arithmetic, so they are checked, and such an entry left out.
        let (entriesStart, startOverflows) = entriesLBA.multipliedReportingOverflow(by: sectorSize)
        guard !startOverflows, entriesStart < UInt64(bytes.count) else {
            return PartitionTable(kind: .gpt, diskSignature: nil, entries: [])
        }
        for index in 0..<count {
            let base = Int(entriesStart) + index * size
            guard base + 128 <= bytes.count else { break }
            let type = bytes[base..<base + 16]
            guard type.contains(where: { $0 != 0 }) else { continue }
            let first = le64(bytes, base + 32), last = le64(bytes, base + 40)
            guard last >= first else { continue }
            let (startBytes, startOverflow) = first.multipliedReportingOverflow(by: sectorSize)
            let (sectors, countOverflow) = (last - first).addingReportingOverflow(1)
            let (sizeBytes, sizeOverflow) = sectors.multipliedReportingOverflow(by: sectorSize)
            guard !startOverflow, !countOverflow, !sizeOverflow else { continue }
            entries.append(Entry(number: index + 1, startBytes: startBytes, sizeBytes: sizeBytes,
                                 uniqueGUID: Array(bytes[base + 16..<base + 32]), typeGUID: Array(type)))
        }
        return PartitionTable(kind: .gpt, diskSignature: nil, entries: entries)
    }

    private static func le32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }

    private static func le64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }

    /// The `MountedDevices` value Windows writes for each partition, keyed by appliance device:
    /// MBR disk signature + byte offset, or "DMIO:ID:" + the GPT unique GUID.
    func mountedDeviceKeys(device: String) -> [String: [UInt8]] {
        var keys: [String: [UInt8]] = [:]
        for entry in entries {
            switch kind {
            case .mbr:
                guard let diskSignature else { continue }
                keys["\(device)\(entry.number)"] = diskSignature + (0..<8).map { UInt8(truncatingIfNeeded: entry.startBytes >> (8 * $0)) }
            case .gpt:
                guard let guid = entry.uniqueGUID else { continue }
                keys["\(device)\(entry.number)"] = Array("DMIO:ID:".utf8) + guid
            }
        }
        return keys
    }
}
