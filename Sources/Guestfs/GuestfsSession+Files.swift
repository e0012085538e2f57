import CGuestfs
import Foundation

/// Space on a mounted filesystem (`statvfs`).
public struct FilesystemUsage: Sendable, Equatable {
    public let blockSize: Int64
    public let fragmentSize: Int64
    public let blocks: Int64
    public let freeBlocks: Int64
    public let availableBlocks: Int64

    public init(blockSize: Int64, fragmentSize: Int64, blocks: Int64, freeBlocks: Int64, availableBlocks: Int64) {
        self.blockSize = blockSize
        self.fragmentSize = fragmentSize
        self.blocks = blocks
        self.freeBlocks = freeBlocks
        self.availableBlocks = availableBlocks
    }

    /// Total size in bytes.
    public var totalBytes: Int64 { blocks * fragmentSize }
    /// Free bytes (including blocks reserved for root).
    public var freeBytes: Int64 { freeBlocks * fragmentSize }
    /// Bytes available to an unprivileged writer.
    public var availableBytes: Int64 { availableBlocks * fragmentSize }
}

/// A device mounted in the appliance and where.
public struct Mount: Sendable, Equatable {
    public let device: String
    public let mountpoint: String

    public init(device: String, mountpoint: String) {
        self.device = device
        self.mountpoint = mountpoint
    }
}

extension GuestfsSession {
    // MARK: Mounting

    /// Mounts a device (or other mountable) read-write at `mountpoint` in the appliance.
    public func mount(_ device: String, at mountpoint: String = "/") throws {
        try call("mount") { guestfs_mount($0, device, mountpoint) }
    }

    /// Mounts a device read-only at `mountpoint` in the appliance.
    public func mountReadOnly(_ device: String, at mountpoint: String = "/") throws {
        try call("mount_ro") { guestfs_mount_ro($0, device, mountpoint) }
    }

    /// Unmounts one filesystem, named by mountpoint or device.
    public func umount(_ pathOrDevice: String) throws {
        try call("umount") { guestfs_umount($0, pathOrDevice) }
    }

    /// Unmounts every filesystem.
    public func umountAll() throws {
        try call("umount_all") { guestfs_umount_all($0) }
    }

    /// The current mounts, in mount order.
    public func mounts() throws -> [Mount] {
        let flat = try callStringList("mountpoints") { guestfs_mountpoints($0) }
        return pairs(flat).map { Mount(device: $0.0, mountpoint: $0.1) }
    }

    /// Flushes the appliance's caches to the drives.
    public func sync() throws {
        try call("sync") { guestfs_sync($0) }
    }

    /// Space on the filesystem holding `path`.
    public func statvfs(_ path: String) throws -> FilesystemUsage {
        try callStruct("statvfs", { guestfs_statvfs($0, path) }, free: { guestfs_free_statvfs($0) }) {
            FilesystemUsage(blockSize: $0.bsize, fragmentSize: $0.frsize, blocks: $0.blocks,
                            freeBlocks: $0.bfree, availableBlocks: $0.bavail)
        }
    }

    // MARK: Files and directories

    /// Creates a directory and any missing parents.
    public func mkdirP(_ path: String) throws {
        try call("mkdir_p") { guestfs_mkdir_p($0, path) }
    }

    /// Creates or replaces a file with `bytes`. Limited by the protocol message size
    /// (a few MB): use `upload` for larger files.
    public func write(_ path: String, _ bytes: [UInt8]) throws {
        try call("write") { g in
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { guestfs_write(g, path, $0.baseAddress, $0.count) }
            }
        }
    }

    /// Creates or replaces a file with the UTF-8 bytes of `text`.
    public func writeString(_ path: String, _ text: String) throws {
        try write(path, Array(text.utf8))
    }

    /// The whole content of a file. Limited like `write`: use `download` for large files.
    public func read(_ path: String) throws -> [UInt8] {
        try callBuffer("read_file") { guestfs_read_file($0, path, $1) }
    }

    /// The content of a file decoded as UTF-8 (invalid sequences replaced).
    public func readString(_ path: String) throws -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// Copies a host file into the appliance.
    public func upload(_ localPath: String, to remotePath: String) throws {
        try allowingLongerCalls(by: transferAllowance(forFileAt: localPath)) {
            try call("upload") { guestfs_upload($0, localPath, remotePath) }
        }
    }

    /// Copies a file from the appliance to the host.
    public func download(_ remotePath: String, to localPath: String) throws {
        try call("download") { guestfs_download($0, remotePath, localPath) }
    }

    public func exists(_ path: String) throws -> Bool {
        try callBool("exists") { guestfs_exists($0, path) }
    }

    /// True for a regular file (symlinks are not followed).
    public func isFile(_ path: String) throws -> Bool {
        try callBool("is_file") { guestfs_is_file($0, path) }
    }

    /// True for a directory (symlinks are not followed).
    public func isDir(_ path: String) throws -> Bool {
        try callBool("is_dir") { guestfs_is_dir($0, path) }
    }

    /// The names in a directory (without `.` and `..`), sorted.
    public func ls(_ directory: String) throws -> [String] {
        try callStringList("ls") { guestfs_ls($0, directory) }
    }

    /// Removes a file.
    public func rm(_ path: String) throws {
        try call("rm") { guestfs_rm($0, path) }
    }

    /// Removes a file or directory tree; no error if it does not exist.
    public func rmRF(_ path: String) throws {
        try call("rm_rf") { guestfs_rm_rf($0, path) }
    }

    /// Resolves `path` case-insensitively (as Windows would) to the path as it is stored on
    /// a case-sensitive mount; the last component need not exist.
    public func caseSensitivePath(_ path: String) throws -> String {
        try callString("case_sensitive_path") { guestfs_case_sensitive_path($0, path) }
    }

    /// What `file(1)` says about a path in the appliance (e.g. `"PE32+ executable ..."`).
    public func fileType(_ path: String) throws -> String {
        try callString("file") { guestfs_file($0, path) }
    }

    /// Size of a file in bytes.
    public func filesize(_ path: String) throws -> Int64 {
        try call64("filesize") { guestfs_filesize($0, path) }
    }

    /// Creates an empty file or updates the timestamps of an existing one.
    public func touch(_ path: String) throws {
        try call("touch") { guestfs_touch($0, path) }
    }

    /// Copies a file within the appliance.
    public func cp(_ source: String, _ destination: String) throws {
        try call("cp") { guestfs_cp($0, source, destination) }
    }

    /// Moves a file or directory within the appliance.
    public func mv(_ source: String, _ destination: String) throws {
        try call("mv") { guestfs_mv($0, source, destination) }
    }
}

/// What `lstat` says about one file inside the appliance.
public struct FileStatus: Sendable, Equatable {
    public var size: Int64
    public var modifiedSeconds: Int64
    /// The `st_mode` type bits: directory, regular file, symbolic link.
    public var isDirectory: Bool
    public var isRegularFile: Bool
}

extension GuestfsSession {
    /// `lstat` of many entries of one `directory` (plain names, no slashes), in one round trip per
    /// chunk: statting a whole tree file by file would cost a round trip each.
    public func lstatList(_ directory: String, _ names: [String]) throws -> [FileStatus] {
        var result: [FileStatus] = []
        result.reserveCapacity(names.count)
        // libguestfs splits long lists itself, but every name is copied into one C array first.
        for start in stride(from: 0, to: names.count, by: 2000) {
            let chunk = Array(names[start..<min(start + 2000, names.count)])
            let statuses = try withHandle("lstatnslist") { g -> [FileStatus] in
                var pointers: [UnsafeMutablePointer<CChar>?] = chunk.map { strdup($0) } + [nil]
                defer { pointers.forEach { free($0) } }
                guard let list = guestfs_lstatnslist(g, directory, &pointers) else { throw Self.lastError(g, "lstatnslist") }
                defer { guestfs_free_statns_list(list) }
                return UnsafeBufferPointer(start: list.pointee.val, count: Int(list.pointee.len)).map { entry in
                    let type = entry.st_mode & 0o170000
                    return FileStatus(size: entry.st_size, modifiedSeconds: entry.st_mtime_sec,
                                      isDirectory: type == 0o040000, isRegularFile: type == 0o100000)
                }
            }
            result += statuses
        }
        return result
    }
}
