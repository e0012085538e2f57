import CGuestfs

extension GuestfsSession {
    /// The pid of the appliance's qemu once launched (direct backend), so a caller can record it
    /// and kill it if the caller itself dies before closing the handle.
    public func applianceProcessID() throws -> Int32 {
        try call("get_pid") { guestfs_get_pid($0) }
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
