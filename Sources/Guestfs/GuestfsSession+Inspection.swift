import CGuestfs

/// An application libguestfs found installed in a guest (`inspect_list_applications2`).
/// For Windows the fields come from the `Uninstall` registry keys; missing ones are empty.
public struct InstalledApplication: Sendable, Equatable {
    /// Package name; for Windows the `Uninstall` subkey name.
    public let name: String
    public let displayName: String
    public let epoch: Int
    public let version: String
    public let release: String
    public let arch: String
    public let installPath: String
    public let publisher: String
    public let url: String
    public let summary: String
    public let description: String

    public init(
        name: String, displayName: String = "", epoch: Int = 0, version: String = "", release: String = "",
        arch: String = "", installPath: String = "", publisher: String = "", url: String = "",
        summary: String = "", description: String = ""
    ) {
        self.name = name
        self.displayName = displayName
        self.epoch = epoch
        self.version = version
        self.release = release
        self.arch = arch
        self.installPath = installPath
        self.publisher = publisher
        self.url = url
        self.summary = summary
        self.description = description
    }
}

/// Windows-specific inspection data.
public struct WindowsInspection: Sendable, Equatable {
    /// The system root inside the filesystem, e.g. `/Windows`.
    public let systemRoot: String
    /// Path of the SOFTWARE hive inside the filesystem.
    public let softwareHive: String
    /// Path of the SYSTEM hive inside the filesystem.
    public let systemHive: String
    /// The control set `Select\Current` names, e.g. `ControlSet001`.
    public let currentControlSet: String
    /// Drive letter (`"C"`) to appliance device, from `MountedDevices`.
    public let driveMappings: [String: String]

    public init(
        systemRoot: String, softwareHive: String, systemHive: String, currentControlSet: String,
        driveMappings: [String: String]
    ) {
        self.systemRoot = systemRoot
        self.softwareHive = softwareHive
        self.systemHive = systemHive
        self.currentControlSet = currentControlSet
        self.driveMappings = driveMappings
    }
}

/// Everything inspection knows about one operating system found on the drives.
public struct OSInspection: Sendable, Equatable {
    /// The root device, the key for all `inspect_get_*` calls.
    public let root: String
    /// `"windows"`, `"linux"`, ... or `"unknown"`.
    public let type: String
    /// `"windows"`, `"debian"`, ... or `"unknown"`.
    public let distro: String
    public let productName: String
    /// For Windows, `InstallationType`: `"Client"` or `"Server"`; else `"unknown"`.
    public let productVariant: String
    public let majorVersion: Int
    public let minorVersion: Int
    /// `"x86_64"`, `"i386"`, ... or `"unknown"`.
    public let arch: String
    /// `"unknown"` when not found.
    public let hostname: String
    /// Where to mount each filesystem, shortest mountpoint first (the order to mount them in).
    public let mountpoints: [Mount]
    /// Set when `type` is `"windows"`.
    public let windows: WindowsInspection?

    public init(
        root: String, type: String, distro: String, productName: String, productVariant: String,
        majorVersion: Int, minorVersion: Int, arch: String, hostname: String, mountpoints: [Mount],
        windows: WindowsInspection?
    ) {
        self.root = root
        self.type = type
        self.distro = distro
        self.productName = productName
        self.productVariant = productVariant
        self.majorVersion = majorVersion
        self.minorVersion = minorVersion
        self.arch = arch
        self.hostname = hostname
        self.mountpoints = mountpoints
        self.windows = windows
    }
}

extension GuestfsSession {
    /// Inspects all drives and returns the root device of each operating system found.
    /// Unmounts everything first (libguestfs does), so mount again afterwards.
    public func inspectOS() throws -> [String] {
        try callStringList("inspect_os") { guestfs_inspect_os($0) }
    }

    /// Everything about one root returned by `inspectOS`.
    public func inspect(root: String) throws -> OSInspection {
        let type = try inspectGetType(root)
        var windows: WindowsInspection?
        if type == "windows" {
            windows = WindowsInspection(
                systemRoot: try inspectGetWindowsSystemroot(root),
                softwareHive: try inspectGetWindowsSoftwareHive(root),
                systemHive: try inspectGetWindowsSystemHive(root),
                currentControlSet: try inspectGetWindowsCurrentControlSet(root),
                driveMappings: try inspectGetDriveMappings(root))
        }
        return OSInspection(
            root: root, type: type,
            distro: try inspectGetDistro(root),
            productName: try inspectGetProductName(root),
            productVariant: try inspectGetProductVariant(root),
            majorVersion: try inspectGetMajorVersion(root),
            minorVersion: try inspectGetMinorVersion(root),
            arch: try inspectGetArch(root),
            hostname: try inspectGetHostname(root),
            mountpoints: try inspectGetMountpoints(root),
            windows: windows)
    }

    public func inspectGetType(_ root: String) throws -> String {
        try callString("inspect_get_type") { guestfs_inspect_get_type($0, root) }
    }

    public func inspectGetDistro(_ root: String) throws -> String {
        try callString("inspect_get_distro") { guestfs_inspect_get_distro($0, root) }
    }

    public func inspectGetProductName(_ root: String) throws -> String {
        try callString("inspect_get_product_name") { guestfs_inspect_get_product_name($0, root) }
    }

    public func inspectGetProductVariant(_ root: String) throws -> String {
        try callString("inspect_get_product_variant") { guestfs_inspect_get_product_variant($0, root) }
    }

    public func inspectGetMajorVersion(_ root: String) throws -> Int {
        Int(try call("inspect_get_major_version") { guestfs_inspect_get_major_version($0, root) })
    }

    public func inspectGetMinorVersion(_ root: String) throws -> Int {
        Int(try call("inspect_get_minor_version") { guestfs_inspect_get_minor_version($0, root) })
    }

    public func inspectGetArch(_ root: String) throws -> String {
        try callString("inspect_get_arch") { guestfs_inspect_get_arch($0, root) }
    }

    public func inspectGetHostname(_ root: String) throws -> String {
        try callString("inspect_get_hostname") { guestfs_inspect_get_hostname($0, root) }
    }

    /// The osinfo short id (e.g. `"win10"`), or `"unknown"`.
    public func inspectGetOsinfo(_ root: String) throws -> String {
        try callString("inspect_get_osinfo") { guestfs_inspect_get_osinfo($0, root) }
    }

    /// Windows only (an error for other systems).
    public func inspectGetWindowsSystemroot(_ root: String) throws -> String {
        try callString("inspect_get_windows_systemroot") { guestfs_inspect_get_windows_systemroot($0, root) }
    }

    /// Windows only (an error for other systems).
    public func inspectGetWindowsSoftwareHive(_ root: String) throws -> String {
        try callString("inspect_get_windows_software_hive") { guestfs_inspect_get_windows_software_hive($0, root) }
    }

    /// Windows only (an error for other systems).
    public func inspectGetWindowsSystemHive(_ root: String) throws -> String {
        try callString("inspect_get_windows_system_hive") { guestfs_inspect_get_windows_system_hive($0, root) }
    }

    /// Windows only (an error for other systems).
    public func inspectGetWindowsCurrentControlSet(_ root: String) throws -> String {
        try callString("inspect_get_windows_current_control_set") {
            guestfs_inspect_get_windows_current_control_set($0, root)
        }
    }

    /// Drive letter to device (Windows; empty elsewhere).
    public func inspectGetDriveMappings(_ root: String) throws -> [String: String] {
        let flat = try callStringList("inspect_get_drive_mappings") { guestfs_inspect_get_drive_mappings($0, root) }
        return Dictionary(pairs(flat), uniquingKeysWith: { first, _ in first })
    }

    /// Mountpoint to device, shortest mountpoint first.
    public func inspectGetMountpoints(_ root: String) throws -> [Mount] {
        let flat = try callStringList("inspect_get_mountpoints") { guestfs_inspect_get_mountpoints($0, root) }
        return pairs(flat)
            .map { Mount(device: $0.1, mountpoint: $0.0) }
            .sorted { ($0.mountpoint.count, $0.mountpoint) < ($1.mountpoint.count, $1.mountpoint) }
    }

    /// Installed applications. The filesystems of `root` must be mounted (read-only suffices).
    /// For Windows this opens the SOFTWARE hive, which closes any hive open on this handle.
    public func inspectListApplications(_ root: String) throws -> [InstalledApplication] {
        try withHandle("inspect_list_applications2") { g in
            guard let list = guestfs_inspect_list_applications2(g, root) else {
                throw Self.lastError(g, "inspect_list_applications2")
            }
            defer { guestfs_free_application2_list(list) }
            let buffer = UnsafeBufferPointer(start: list.pointee.val, count: Int(list.pointee.len))
            return buffer.map { app in
                InstalledApplication(
                    name: string(app.app2_name), displayName: string(app.app2_display_name),
                    epoch: Int(app.app2_epoch), version: string(app.app2_version),
                    release: string(app.app2_release), arch: string(app.app2_arch),
                    installPath: string(app.app2_install_path), publisher: string(app.app2_publisher),
                    url: string(app.app2_url), summary: string(app.app2_summary),
                    description: string(app.app2_description))
            }
        }
    }
}

/// A borrowed C string field of a libguestfs struct (freed with the struct), or "" for NULL.
private func string(_ p: UnsafeMutablePointer<CChar>?) -> String {
    p.map { String(cString: $0) } ?? ""
}
