import Archive
import Foundation
import Guestfs

/// A desktop's user-data disk: one GPT partition with an NTFS volume labelled "UserData", laid
/// out on lcm's machine when the disk is made (`prepare` does the same in the appliance for a
/// blank disk), and optionally filled with a user's old data from an archive.
public enum UserDataDisk {
    public static let volumeLabel = "UserData"
    /// GPT "Microsoft basic data", what Windows gives a data volume.
    static let basicDataPartitionType = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
    /// How much of a disk must read as zeros for it to count as blank (btrfs, the furthest
    /// common signature, sits at 64 KiB).
    static let blankCheckBytes = 128 << 10

    /// Partitions and formats a blank disk. Refuses a disk that already has a partition table or
    /// a filesystem, so a desktop's existing data is never formatted over.
    /// - Returns: the NTFS partition's device in the appliance.
    @discardableResult
    public static func prepare(_ access: DiskAccess) throws -> String {
        let g = access.session
        func notBlank(_ what: String) -> LCMError {
            LCMError(.conflict, "the user-data disk \(access.volume.name) is not blank (it has \(what)); lcm formats only blank disks")
        }
        let existingPartitions = try access.partitions()
        guard existingPartitions.isEmpty else { throw notBlank("\(existingPartitions.count) partition(s)") }
        // The listing is the launch's: a disk partitioned since shows only on the disk itself. A
        // blank disk reads as zeros where every partition table and filesystem keeps its signature
        // (one read, where asking blkid costs a program run in the appliance).
        let head = try g.preadDevice(access.device, count: blankCheckBytes, offset: 0)
        if head.contains(where: { $0 != 0 }) {
            if head.count >= 520, Array(head[512..<520]) == Array("EFI PART".utf8) { throw notBlank("a GPT partition table") }
            let filesystem = (try? g.vfsType(access.device)) ?? ""
            throw notBlank(filesystem.isEmpty ? "data in its first \(blankCheckBytes >> 10) KiB" : "a \(filesystem) filesystem")
        }
        // The GPT is built here and written with two writes: parted and sgdisk runs in the
        // appliance (each waiting for udev under TCG) cost about 3 s a disk.
        let sectors = try g.blockdevGetSize64(access.device) / GPTWriter.sectorSize
        let entry = GPTWriter.singlePartition(diskSectors: sectors, typeGUID: basicDataPartitionType,
                                              uniqueGUID: UUID().uuidString, name: "Basic data partition")
        for write in GPTWriter.tableWrites(diskSectors: sectors, diskGUID: UUID().uuidString, entries: [entry]) {
            try g.pwriteDevice(access.device, write.bytes, offset: write.offset)
        }
        try g.blockdevRereadpt(access.device)
        let partition = access.device + "1"
        try g.mkfs("ntfs", device: partition, label: volumeLabel)
        return partition
    }

    /// mkntfs of ntfs-3g (scripts/setup installs it).
    static let mkntfs = "/usr/sbin/mkntfs"

    /// Writes a new user-data disk's contents, the same layout `prepare` makes (one GPT partition,
    /// NTFS labelled "UserData"), into a sparse raw file at `path` on lcm's machine, for the volume
    /// to be built from before it is uploaded (`DeviceVolumes.Request.contents`).
    ///
    /// Why on lcm's machine: in the appliance, under TCG, the table writes, the re-read and mkfs
    /// cost about 1.1 s a disk and every disk had to be a drive of the personalization launch;
    /// here mkntfs runs natively in milliseconds on a file that was created a moment ago, so it
    /// cannot hold anybody's data. libguestfs offers mkfs only inside its appliance.
    /// The scratch file `writeBlankLayout` formats the partition in, beside `path` (callers record
    /// it before the layout is written, so a killed run's copy is cleaned up).
    static func scratchPath(for path: String) -> String { path + ".partition" }

    static func writeBlankLayout(to path: String, virtualSize: UInt64) throws {
        let sectors = Int64(virtualSize) / GPTWriter.sectorSize
        let entry = GPTWriter.singlePartition(diskSectors: sectors, typeGUID: basicDataPartitionType,
                                              uniqueGUID: UUID().uuidString, name: "Basic data partition")
        let partitionPath = scratchPath(for: path)
        defer { unlink(partitionPath) }
        let partitionBytes = (entry.lastLBA - entry.firstLBA + 1) * GPTWriter.sectorSize
        try SparseFile.create(partitionPath, size: partitionBytes)
        let made = try Tool.run(mkntfs, ["-Q", "-F", "-q", "-L", volumeLabel, "-s", String(GPTWriter.sectorSize),
                                         "-p", String(entry.firstLBA), "-H", "255", "-S", "63", partitionPath])
        guard made.status == 0 else {
            throw LCMError(.unavailable, "mkntfs could not format the user-data disk: \(Tool.firstLine(made.stderr))",
                           hint: "scripts/setup installs ntfs-3g, which provides mkntfs")
        }
        try giveVolumeItsOwnSerial(partitionPath, bytes: partitionBytes)
        try SparseFile.create(path, size: sectors * GPTWriter.sectorSize)
        let disk = try SparseFile(path: path, writable: true)
        defer { disk.close() }
        for write in GPTWriter.tableWrites(diskSectors: sectors, diskGUID: UUID().uuidString, entries: [entry]) {
            try disk.write(write.bytes, at: write.offset)
        }
        let partition = try SparseFile(path: partitionPath, writable: false)
        defer { partition.close() }
        try partition.copyData(to: disk, at: entry.firstLBA * GPTWriter.sectorSize)
    }

    /// Where an NTFS boot sector keeps the volume serial number (8 bytes).
    static let serialOffset: Int64 = 0x48

    /// Writes a random volume serial into the NTFS boot sector and its backup (the volume's last
    /// sector): mkntfs seeds its serial from the clock, and two disks made in the same second
    /// came out with the same one (seen in CI).
    static func giveVolumeItsOwnSerial(_ path: String, bytes: Int64) throws {
        let volume = try SparseFile(path: path, writable: true)
        defer { volume.close() }
        var generator = SystemRandomNumberGenerator()
        let serial = (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for sector in [0, bytes - GPTWriter.sectorSize] {
            guard try volume.read(count: 8, at: sector + 3) == Array("NTFS    ".utf8) else {
                throw LCMError(.unavailable, "mkntfs left no NTFS boot sector at byte \(sector) of the user-data volume")
            }
            try volume.write(serial, at: sector + serialOffset)
        }
    }

    /// The user-data volume on `access`: the NTFS partition labelled "UserData" (looked for in the
    /// partitions seen at launch, then, for a disk prepared in this launch, in the current ones).
    static func volume(_ access: DiskAccess) throws -> String {
        let g = access.session
        var partitions = try access.partitions()
        if partitions.isEmpty { partitions = try access.currentPartitions() }
        for partition in partitions where (try? g.vfsType(partition)) == "ntfs" {
            if (try? g.vfsLabel(partition)) == volumeLabel { return partition }
        }
        throw LCMError(.notFound, "no NTFS volume labelled \(volumeLabel) on \(access.volume.name)", hint: "prepare the disk first")
    }

    /// Moves a user's old data from a tar (plain, gzip, xz or zstd) or zip archive onto the
    /// user-data volume (`partition` when the caller just prepared it), below `directory` (volume
    /// path, "/" for its root).
    ///
    /// The archive is unpacked on the host first, into a private 0700 directory, by the same
    /// safe extractor every lcm extraction uses: an entry that would land outside the root
    /// (absolute path, "..", a symlink pointing out, a device) stops it, and names Windows
    /// cannot use are refused, all before the disk is touched. The tree then goes into the
    /// appliance as one tar stream. The private directory is removed in every case.
    public static func migrate(archive: URL, into access: DiskAccess, directory: String = "/",
                               partition knownPartition: String? = nil) throws -> UserDataMigrationReport {
        let workspace = try PrivateDirectory(prefix: "lcm-userdata")
        defer { workspace.remove() }
        let tree = workspace.url.appendingPathComponent("tree", isDirectory: true)
        do {
            let reader = try ArchiveReader(contentsOf: archive)
            defer { reader.close() }
            try reader.extractAll(to: tree)
        } catch let error as ArchiveError {
            switch error.code {
            case .unsafeEntry, .unsupportedEntry:
                throw LCMError(.dataError, "refusing the archive \(archive.path): \(error.description)",
                               hint: "nothing was written to \(access.volume.name); repack the archive with relative paths inside one folder")
            case .system where error.path == nil || error.path == tree.path:
                throw LCMError(.cannotWrite, "cannot unpack \(archive.path) into a private directory: \(error.description)")
            default:
                throw LCMError(.dataError, "cannot read the archive \(archive.path): \(error.description)")
            }
        }
        var report = try WindowsNames.survey(tree)
        report.archive = archive.path

        let stream = workspace.url.appendingPathComponent("stream.tar")
        do {
            let writer = try TarArchiveWriter(destination: stream)
            let skipped = try writer.addTree(directory: tree, under: "")
            guard skipped.isEmpty else {
                writer.discard()
                throw LCMError(.dataError, "cannot carry \(skipped.count) entr(ies) of \(archive.path) over, e.g. \(skipped[0].dropFirst(tree.path.count + 1))")
            }
            try writer.finish()
        } catch let error as ArchiveError {
            throw LCMError(.cannotWrite, "cannot build the transfer stream: \(error.description)")
        }

        let g = access.session
        let partition = try knownPartition ?? volume(access)
        try g.mount(partition, options: "big_writes")
        defer { try? g.umountAll() }
        try g.mkdirP(directory)
        try g.tarIn(stream.path, to: directory)
        report.partition = partition
        report.directory = directory
        return report
    }
}

/// What `UserDataDisk.migrate` moved.
public struct UserDataMigrationReport: Sendable, Codable, Equatable, CustomStringConvertible {
    public var archive = ""
    public var partition = ""
    public var directory = ""
    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var bytes: Int64 = 0

    public var description: String {
        "moved \(files) file(s), \(directories) folder(s), \(symlinks) link(s), \(bytes) bytes from \(archive) to \(partition):\(directory)"
    }
}

/// Names Windows can hold on NTFS but not open (ntfs-3g writes them all the same), found before
/// anything is written.
enum WindowsNames {
    static let forbiddenCharacters = Set("<>:\"\\|?*".unicodeScalars)
    static let reservedNames = Set(["CON", "PRN", "AUX", "NUL"] + (1...9).flatMap { ["COM\($0)", "LPT\($0)"] })

    static func problem(with name: String) -> String? {
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || forbiddenCharacters.contains($0) }) {
            return "contains a character Windows does not allow in names (< > : \" \\ | ? * or a control character)"
        }
        if name.hasSuffix(".") || name.hasSuffix(" ") { return "ends with a dot or a space" }
        let stem = name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
        if reservedNames.contains(stem.uppercased()) { return "is a reserved device name on Windows" }
        return nil
    }

    /// Counts the tree and checks every name, and that no two names in a folder differ only in case.
    static func survey(_ root: URL) throws -> UserDataMigrationReport {
        var report = UserDataMigrationReport()
        func walk(_ directory: URL, relative: String) throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            var seen: [String: String] = [:]
            for name in names {
                let entry = relative.isEmpty ? name : relative + "/" + name
                if let problem = problem(with: name) {
                    throw LCMError(.dataError, "refusing the archive: the entry \"\(NameRule.printable(entry))\" \(problem)",
                                   hint: "nothing was written to the disk; rename it in the archive")
                }
                if let other = seen.updateValue(name, forKey: name.lowercased()) {
                    throw LCMError(.dataError, "refusing the archive: \"\(entry)\" and \"\(other)\" differ only in case, which Windows cannot tell apart",
                                   hint: "nothing was written to the disk; rename one of them in the archive")
                }
                let url = directory.appendingPathComponent(name)
                let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
                switch attributes[.type] as? FileAttributeType {
                case .typeDirectory?:
                    report.directories += 1
                    try walk(url, relative: entry)
                case .typeSymbolicLink?:
                    report.symlinks += 1
                default:
                    report.files += 1
                    report.bytes += (attributes[.size] as? NSNumber)?.int64Value ?? 0
                }
            }
        }
        try walk(root, relative: "")
        return report
    }
}

/// A directory only the current user can enter (0700), for host-side copies of private data;
/// the owner removes it when done.
struct PrivateDirectory {
    let url: URL

    init(prefix: String) throws {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
        // mkdtemp creates it 0700 atomically: no window in which it is readable by others.
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw LCMError(.cannotWrite, "cannot create a private temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        url = URL(fileURLWithPath: String(cString: path), isDirectory: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
