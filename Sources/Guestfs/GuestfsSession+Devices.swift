import CGuestfs

/// A partition table type, as `part_init` and `part_disk` name it.
public enum PartitionTableType: String, Sendable, CaseIterable {
    case mbr
    case gpt
}

/// What `part_add` creates: a primary, logical or extended MBR partition (GPT: always primary).
public enum PartitionKind: String, Sendable {
    case primary = "p"
    case logical = "l"
    case extended = "e"
}

/// One entry of a partition table (`part_list`); positions and sizes in bytes.
public struct PartitionEntry: Sendable, Equatable {
    public let number: Int
    public let start: Int64
    public let end: Int64
    public let size: Int64

    public init(number: Int, start: Int64, end: Int64, size: Int64) {
        self.number = number
        self.start = start
        self.end = end
        self.size = size
    }
}

/// A filesystem libguestfs found on a device, with its type (`"ntfs"`, `"vfat"`, `"unknown"`, ...).
public struct DetectedFilesystem: Sendable, Equatable {
    public let device: String
    public let type: String

    public init(device: String, type: String) {
        self.device = device
        self.type = type
    }
}

extension GuestfsSession {
    /// The whole-disk devices, in the order drives were added (`/dev/sda`, `/dev/sdb`, ...).
    public func listDevices() throws -> [String] {
        try callStringList("list_devices") { guestfs_list_devices($0) }
    }

    /// All partitions on all devices.
    public func listPartitions() throws -> [String] {
        try callStringList("list_partitions") { guestfs_list_partitions($0) }
    }

    /// Every device or partition that may hold a filesystem, with the type libguestfs detected.
    public func listFilesystems() throws -> [DetectedFilesystem] {
        let flat = try callStringList("list_filesystems") { guestfs_list_filesystems($0) }
        return pairs(flat).map { DetectedFilesystem(device: $0.0, type: $0.1) }
    }

    /// Replaces the partition table of `device` with one partition spanning the disk.
    public func partDisk(_ device: String, _ type: PartitionTableType) throws {
        try call("part_disk") { guestfs_part_disk($0, device, type.rawValue) }
    }

    /// Writes an empty partition table of `type` to `device`.
    public func partInit(_ device: String, _ type: PartitionTableType) throws {
        try call("part_init") { guestfs_part_init($0, device, type.rawValue) }
    }

    /// Adds a partition from `startSector` to `endSector` (inclusive, 512-byte sectors);
    /// a negative `endSector` counts back from the end of the disk.
    public func partAddPart(_ device: String, _ kind: PartitionKind = .primary, startSector: Int64, endSector: Int64) throws {
        try call("part_add") { guestfs_part_add($0, device, kind.rawValue, startSector, endSector) }
    }

    /// The partition table entries of `device`.
    public func partList(_ device: String) throws -> [PartitionEntry] {
        try withHandle("part_list") { g in
            guard let list = guestfs_part_list(g, device) else { throw Self.lastError(g, "part_list") }
            defer { guestfs_free_partition_list(list) }
            let buffer = UnsafeBufferPointer(start: list.pointee.val, count: Int(list.pointee.len))
            return buffer.map {
                PartitionEntry(number: Int($0.part_num), start: Int64($0.part_start), end: Int64($0.part_end), size: Int64($0.part_size))
            }
        }
    }

    /// The partition table type of `device`: `"msdos"` (MBR) or `"gpt"`.
    public func partGetPartitionTableType(_ device: String) throws -> String {
        try callString("part_get_parttype") { guestfs_part_get_parttype($0, device) }
    }

    /// Sets a GPT partition's type GUID (e.g. `EBD0A0A2-B9E5-4433-87C0-68B6B72699C7`, basic data).
    public func partSetGptType(_ device: String, partition: Int, guid: String) throws {
        let n = try cInt(partition, "part_set_gpt_type")
        try call("part_set_gpt_type") { guestfs_part_set_gpt_type($0, device, n, guid) }
    }

    /// A GPT partition's type GUID.
    public func partGetGptType(_ device: String, partition: Int) throws -> String {
        let n = try cInt(partition, "part_get_gpt_type")
        return try callString("part_get_gpt_type") { guestfs_part_get_gpt_type($0, device, n) }
    }

    /// Sets a GPT partition's unique GUID (what Windows' `MountedDevices` refers to).
    public func partSetGptGuid(_ device: String, partition: Int, guid: String) throws {
        let n = try cInt(partition, "part_set_gpt_guid")
        try call("part_set_gpt_guid") { guestfs_part_set_gpt_guid($0, device, n, guid) }
    }

    /// A GPT partition's unique GUID, upper case.
    public func partGetGptGuid(_ device: String, partition: Int) throws -> String {
        let n = try cInt(partition, "part_get_gpt_guid")
        return try callString("part_get_gpt_guid") { guestfs_part_get_gpt_guid($0, device, n) }
    }

    /// An MBR partition's type byte (e.g. 0x07 for NTFS).
    public func partGetMbrId(_ device: String, partition: Int) throws -> Int {
        let n = try cInt(partition, "part_get_mbr_id")
        return Int(try call("part_get_mbr_id") { guestfs_part_get_mbr_id($0, device, n) })
    }

    /// Sets an MBR partition's type byte.
    public func partSetMbrId(_ device: String, partition: Int, id: Int) throws {
        let n = try cInt(partition, "part_set_mbr_id")
        let byte = try cInt(id, "part_set_mbr_id")
        try call("part_set_mbr_id") { guestfs_part_set_mbr_id($0, device, n, byte) }
    }

    /// The size of a device or partition in bytes.
    public func blockdevGetSize64(_ device: String) throws -> Int64 {
        try call64("blockdev_getsize64") { guestfs_blockdev_getsize64($0, device) }
    }

    /// Creates a filesystem of `fstype` (`"ntfs"`, `"vfat"`, `"ext4"`, ...) on `device`.
    public func mkfs(_ fstype: String, device: String, label: String? = nil) throws {
        let arena = CStringArena()
        var opts = guestfs_mkfs_opts_argv()
        if let label {
            opts.bitmask |= LCM_GUESTFS_MKFS_OPTS_LABEL_BITMASK
            opts.label = arena.string(label)
        }
        try withExtendedLifetime(arena) {
            _ = try call("mkfs") { guestfs_mkfs_opts_argv($0, fstype, device, &opts) }
        }
    }

    /// The filesystem type on a mountable (`"ntfs"`, ...); an error when there is none.
    public func vfsType(_ mountable: String) throws -> String {
        try callString("vfs_type") { guestfs_vfs_type($0, mountable) }
    }

    /// The filesystem UUID (for NTFS, the 16-hex-digit volume serial); empty when none.
    public func vfsUUID(_ mountable: String) throws -> String {
        try callString("vfs_uuid") { guestfs_vfs_uuid($0, mountable) }
    }

    /// The filesystem label; empty when none.
    public func vfsLabel(_ mountable: String) throws -> String {
        try callString("vfs_label") { guestfs_vfs_label($0, mountable) }
    }
}
