import Glibc
import CGuestfs

extension GuestfsSession {
    /// The pid of the appliance's qemu once launched (direct backend), so a caller can record it
    /// and kill it if the caller itself dies before closing the handle.
    public func applianceProcessID() throws -> Int32 {
        try call("get_pid") { guestfs_get_pid($0) }
    }

    /// Makes the appliance wait `seconds` before answering (libguestfs's `sleep`): a call
    /// that takes a known time, for checking time limits.
    public func sleep(seconds: Int) throws {
        let c = try cInt(seconds, "sleep")
        try call("sleep") { guestfs_sleep($0, c) }
    }

    /// True while the appliance is launched and answering calls; false once it died or was shut down.
    public var isReady: Bool {
        (try? withHandle("is_ready") { guestfs_is_ready($0) == 1 }) ?? false
    }

    /// Mounts with mount(8) options, e.g. `"big_writes,noatime"` for NTFS: the appliance mounts
    /// NTFS with ntfs-3g (FUSE), whose default 4 KiB writes make rewriting a 60 MiB registry hive
    /// take 3.5 s under TCG; big_writes cuts that to 0.7 s.
    public func mount(_ device: String, at mountpoint: String = "/", options: String) throws {
        try call("mount_options") { guestfs_mount_options($0, options, device, mountpoint) }
    }
}

extension GuestfsSession {
    /// Up to `count` bytes of a file from `offset`: PE headers and hibernation-file signatures
    /// without reading whole files.
    public func pread(_ path: String, count: Int, offset: Int64) throws -> [UInt8] {
        let c = try cInt(count, "pread")
        return try callBuffer("pread") { guestfs_pread($0, path, c, offset, $1) }
    }

    /// Writes `bytes` into the file at `offset` (at most 2 MiB per call: the protocol's message
    /// limit is 4 MiB). Returns the bytes written.
    @discardableResult
    public func pwrite(_ path: String, _ bytes: [UInt8], offset: Int64) throws -> Int {
        guard bytes.count <= 2 << 20 else { throw GuestfsError(operation: "pwrite", message: "more than 2 MiB in one call", errno: EINVAL) }
        return Int(try bytes.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { chars in
                try call("pwrite") { guestfs_pwrite($0, path, chars.baseAddress, chars.count, offset) }
            }
        })
    }

    /// Sets the file's length (shortening or extending it with zeros).
    public func truncate(_ path: String, size: Int64) throws {
        _ = try call("truncate_size") { guestfs_truncate_size($0, path, size) }
    }

    /// Up to `count` bytes of a block device from `offset` (e.g. the MBR disk signature).
    public func preadDevice(_ device: String, count: Int, offset: Int64) throws -> [UInt8] {
        let c = try cInt(count, "pread_device")
        return try callBuffer("pread_device") { guestfs_pread_device($0, device, c, offset, $1) }
    }

    /// Writes `bytes` to a block device at `offset` (at most 2 MiB per call), e.g. a partition
    /// table lcm built itself. Returns the bytes written.
    @discardableResult
    public func pwriteDevice(_ device: String, _ bytes: [UInt8], offset: Int64) throws -> Int {
        guard bytes.count <= 2 << 20 else { throw GuestfsError(operation: "pwrite_device", message: "more than 2 MiB in one call", errno: EINVAL) }
        return Int(try bytes.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { chars in
                try call("pwrite_device") { guestfs_pwrite_device($0, device, chars.baseAddress, chars.count, offset) }
            }
        })
    }

    /// Makes the appliance's kernel read the device's partition table again (after `pwriteDevice`).
    public func blockdevRereadpt(_ device: String) throws {
        _ = try call("blockdev_rereadpt") { guestfs_blockdev_rereadpt($0, device) }
    }

    /// Whether ntfs-3g would mount the NTFS volume (read-write when `readWrite`). A hibernated or
    /// Fast Startup volume is refused read-write; libguestfs's mount would silently fall back to
    /// read-only, so offline writers ask this first.
    public func ntfs3gProbe(_ device: String, readWrite: Bool) throws -> Bool {
        try withHandle("ntfs_3g_probe") { g in
            let rc = guestfs_ntfs_3g_probe(g, readWrite ? 1 : 0, device)
            if rc == -1 { throw Self.lastError(g, "ntfs_3g_probe") }
            return rc == 0
        }
    }

    /// The SHA-256 of a file inside the appliance, as hex.
    public func sha256(_ path: String) throws -> String {
        try callString("checksum") { guestfs_checksum($0, "sha256", path) }
    }

    /// Every path below `directory`, relative to it (directories included).
    public func find(_ directory: String) throws -> [String] {
        try callStringList("find") { guestfs_find($0, directory) }
    }
}

extension GuestfsSession {
    /// Unpacks an uncompressed tar file from the host into `directory` in the appliance: one
    /// stream for a whole tree instead of one upload per file.
    public func tarIn(_ localTarPath: String, to directory: String) throws {
        var opts = guestfs_tar_in_opts_argv()
        try allowingLongerCalls(by: transferAllowance(forFileAt: localTarPath)) {
            try call("tar_in") { guestfs_tar_in_opts_argv($0, localTarPath, directory, &opts) }
        }
    }

    /// `write` with call tracing off for this call, so content that must stay private (an answer
    /// file carrying a domain join blob) never reaches a trace log handler.
    public func writeUntraced(_ path: String, _ bytes: [UInt8]) throws {
        try withHandle("write") { g in
            let traced = guestfs_get_trace(g)
            if traced == 1 { guestfs_set_trace(g, 0) }
            defer { if traced == 1 { guestfs_set_trace(g, 1) } }
            try write(path, bytes)
        }
    }
}
