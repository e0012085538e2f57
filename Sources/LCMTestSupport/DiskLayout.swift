import Foundation
import LCMKit

/// The partition table of a Windows-shaped disk, as Windows Setup lays it out, with the exact
/// bytes of its MBR or GPT. The builder writes these bytes itself (rather than letting parted
/// choose) so the disk signature and partition GUIDs are known in advance and `MountedDevices`
/// in the SYSTEM hive can name the Windows partition the way Windows does.
public struct DiskLayout: Sendable, Equatable {
    public static let sectorSize: Int64 = 512
    static let mebibyte: Int64 = 1 << 20

    /// What a partition is for.
    public enum Role: String, Sendable, Equatable {
        /// EFI system partition (FAT), GPT only.
        case efiSystem
        /// Microsoft reserved partition (no filesystem), GPT only.
        case microsoftReserved
        /// "System Reserved" boot partition (NTFS), MBR only.
        case systemReserved
        /// The Windows volume, C: (NTFS).
        case windows
    }

    /// One partition table entry.
    public struct Partition: Sendable, Equatable {
        /// 1-based, as in `/dev/sda1`.
        public var number: Int
        public var role: Role
        public var startSector: Int64
        public var sectorCount: Int64
        /// GPT partition type GUID (upper case); nil on MBR.
        public var typeGUID: String?
        /// GPT unique partition GUID (upper case); nil on MBR.
        public var uniqueGUID: String?
        /// GPT partition name.
        public var name: String
        /// MBR partition type byte; nil on GPT.
        public var mbrType: UInt8?
        /// MBR active (boot) flag.
        public var active: Bool

        public var startOffset: Int64 { startSector * DiskLayout.sectorSize }
        public var size: Int64 { sectorCount * DiskLayout.sectorSize }
        public var lastSector: Int64 { startSector + sectorCount - 1 }
    }

    public static let efiSystemType = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    public static let microsoftReservedType = "E3C9E316-0B5C-4DB8-817D-F92DF00215AE"
    public static let basicDataType = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"

    public let partitioning: WindowsDiskSpec.Partitioning
    public let diskSize: Int64
    /// MBR disk signature (offset 0x1B8); 0 on GPT disks, whose protective MBR has none.
    public let diskSignature: UInt32
    /// GPT disk GUID; nil on MBR.
    public let diskGUID: String?
    public let partitions: [Partition]

    init(spec: WindowsDiskSpec) {
        let seed = spec.identitySeed
        let mib = Self.mebibyte / Self.sectorSize
        let totalSectors = spec.virtualSize / Self.sectorSize
        partitioning = spec.partitioning
        diskSize = totalSectors * Self.sectorSize
        switch spec.partitioning {
        case .gpt:
            diskSignature = 0
            diskGUID = Self.derivedGUID(seed: seed, salt: 0)
            // Windows Setup: 100 MiB ESP, 16 MiB MSR, the rest for Windows (1 MiB left at the end
            // for the backup GPT and alignment).
            let esp = Partition(number: 1, role: .efiSystem, startSector: mib, sectorCount: 100 * mib,
                                typeGUID: Self.efiSystemType, uniqueGUID: Self.derivedGUID(seed: seed, salt: 1),
                                name: "EFI system partition", mbrType: nil, active: false)
            let msr = Partition(number: 2, role: .microsoftReserved, startSector: esp.startSector + esp.sectorCount,
                                sectorCount: 16 * mib, typeGUID: Self.microsoftReservedType,
                                uniqueGUID: Self.derivedGUID(seed: seed, salt: 2),
                                name: "Microsoft reserved partition", mbrType: nil, active: false)
            let start = msr.startSector + msr.sectorCount
            let end = (totalSectors - mib) / mib * mib
            let windows = Partition(number: 3, role: .windows, startSector: start, sectorCount: end - start,
                                    typeGUID: Self.basicDataType, uniqueGUID: spec.resolvedWindowsPartitionGUID,
                                    name: "Basic data partition", mbrType: nil, active: false)
            partitions = [esp, msr, windows]
        case .mbr:
            diskSignature = spec.resolvedDiskSignature
            diskGUID = nil
            let reserved = Partition(number: 1, role: .systemReserved, startSector: mib, sectorCount: 50 * mib,
                                     typeGUID: nil, uniqueGUID: nil, name: "System Reserved", mbrType: 0x07, active: true)
            let start = reserved.startSector + reserved.sectorCount
            let end = totalSectors / mib * mib
            let windows = Partition(number: 2, role: .windows, startSector: start, sectorCount: end - start,
                                    typeGUID: nil, uniqueGUID: nil, name: "", mbrType: 0x07, active: false)
            partitions = [reserved, windows]
        }
    }

    /// The Windows volume (C:).
    public var windowsPartition: Partition { partitions.first { $0.role == .windows }! }

    /// The partition with `role`, if the layout has one.
    public func partition(_ role: Role) -> Partition? { partitions.first { $0.role == role } }

    /// What Windows stores in `SYSTEM\MountedDevices` for C:: on MBR the disk signature and
    /// the partition's byte offset (12 bytes), on GPT `DMIO:ID:` and the partition GUID.
    public var mountedDevicesValue: [UInt8] {
        let c = windowsPartition
        switch partitioning {
        case .mbr:
            return le(diskSignature) + le(UInt64(c.startOffset))
        case .gpt:
            return Array("DMIO:ID:".utf8) + Self.guidBytes(c.uniqueGUID!)
        }
    }

    // MARK: Partition table bytes

    /// The bytes to write at each disk offset to create the partition table.
    public var tableWrites: [(offset: Int64, bytes: [UInt8])] {
        switch partitioning {
        case .mbr:
            return [(0, mbrSector())]
        case .gpt:
            return GPTWriter.tableWrites(diskSectors: diskSize / Self.sectorSize, diskGUID: diskGUID!, entries: partitions.map {
                GPTWriter.Entry(typeGUID: $0.typeGUID!, uniqueGUID: $0.uniqueGUID!, firstLBA: $0.startSector, lastLBA: $0.lastSector, name: $0.name)
            })
        }
    }

    private func mbrSector() -> [UInt8] {
        var sector = [UInt8](repeating: 0, count: 512)
        sector.replaceSubrange(0x1B8..<0x1BC, with: le(diskSignature))
        for (i, p) in partitions.enumerated() {
            let entry = mbrEntry(status: p.active ? 0x80 : 0, type: p.mbrType ?? 0x07,
                                 start: UInt32(p.startSector), count: UInt32(p.sectorCount))
            sector.replaceSubrange(0x1BE + 16 * i..<0x1BE + 16 * (i + 1), with: entry)
        }
        sector[510] = 0x55
        sector[511] = 0xAA
        return sector
    }

    /// CHS fields say "use LBA" (0xFE 0xFF 0xFF), as tools do for disks past the CHS limit.
    private func mbrEntry(status: UInt8, type: UInt8, start: UInt32, count: UInt32) -> [UInt8] {
        [status, 0xFE, 0xFF, 0xFF, type, 0xFE, 0xFF, 0xFF] + le(start) + le(count)
    }

    // MARK: GUIDs

    /// A GUID as Windows and GPT store it: the first three fields little-endian, the rest as written.
    public static func guidBytes(_ guid: String) -> [UInt8] { GPTWriter.guidBytes(guid) }

    /// A random-looking (version 4 shaped) GUID, the same for the same seed and salt.
    static func derivedGUID(seed: UInt64, salt: UInt64) -> String {
        var state = seed ^ (salt &* 0x9E37_79B9_7F4A_7C15)
        var bytes = le(SplitMix64.next(&state)) + le(SplitMix64.next(&state))
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = bytes.map { String(format: "%02X", $0) }.joined()
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4),
                     hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// A small deterministic random number generator (SplitMix64), so generated content is the same
/// on every run for the same spec.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 { Self.next(&state) }

    static func next(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
