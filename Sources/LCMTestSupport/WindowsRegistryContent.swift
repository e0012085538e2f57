import Foundation
import Guestfs

/// The registry of a Windows-shaped disk, generated from its spec: the key trees of the SOFTWARE,
/// SYSTEM, SAM, SECURITY and DEFAULT hives (and the BCD store of the boot partition), ready for
/// `RegistryHive.build(root:)`.
///
/// Values are where Windows keeps them and typed as Windows types them; the paths used by
/// libguestfs inspection and by lcm are constants here so tests read the same places.
public enum WindowsRegistryContent {
    /// SOFTWARE key with product name, version, build, edition, installation type.
    public static let currentVersionPath = "Microsoft\\Windows NT\\CurrentVersion"
    /// SOFTWARE key with one subkey per installed application.
    public static let uninstallPath = "Microsoft\\Windows\\CurrentVersion\\Uninstall"
    /// SOFTWARE key with the 32-bit applications of 64-bit Windows.
    public static let wow64UninstallPath = "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
    /// SOFTWARE key whose `ImageState` says whether the image is generalized.
    public static let setupStatePath = "Microsoft\\Windows\\CurrentVersion\\Setup\\State"
    /// SOFTWARE key with one subkey per servicing package.
    public static let servicingPackagesPath = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"
    public static let servicingRebootPendingPath = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"
    /// SOFTWARE value listing where Plug and Play looks for drivers.
    public static let currentVersionWindowsPath = "Microsoft\\Windows\\CurrentVersion"

    /// SYSTEM paths below the control set (`ControlSet00N\...`).
    public static let computerNamePath = "Control\\ComputerName\\ComputerName"
    public static let tcpipParametersPath = "Services\\Tcpip\\Parameters"
    public static let powerPath = "Control\\Session Manager\\Power"

    /// The boot drivers installed with `virtioDrivers`: service name and PCI device IDs.
    public static let virtioBootDrivers: [(service: String, deviceIDs: [String])] = [
        ("viostor", ["VEN_1AF4&DEV_1001", "VEN_1AF4&DEV_1042"]),
        ("vioscsi", ["VEN_1AF4&DEV_1004", "VEN_1AF4&DEV_1048"]),
    ]

    /// 2024-01-01T00:00:00Z, the install time of every generated system.
    static let installDate = RegistryHive.defaultTimestamp

    // MARK: SOFTWARE

    public static func software(_ spec: WindowsDiskSpec) -> RegistryKey {
        var root = RegistryKey("ROOT")
        let is64 = spec.architecture == .x86_64
        let arch = is64 ? "amd64" : "x86"
        let buildLab = "\(spec.buildNumber).1.\(arch)fre.ni_release.220506-1250"

        root.withKey(currentVersionPath) { cv in
            cv.set("SystemRoot", .string("C:\\Windows"))
            cv.set("PathName", .string("C:\\Windows"))
            cv.set("SoftwareType", .string("System"))
            cv.set("ProductName", .string(spec.productName))
            cv.set("EditionID", .string(spec.editionID))
            cv.set("CompositionEditionID", .string(spec.editionID))
            cv.set("InstallationType", .string(spec.installationType))
            cv.set("CurrentMajorVersionNumber", .dword(UInt32(spec.majorVersion)))
            cv.set("CurrentMinorVersionNumber", .dword(UInt32(spec.minorVersion)))
            // Windows 10 and later freeze the old version string at 6.3 for compatibility.
            cv.set("CurrentVersion", .string(spec.majorVersion >= 10 ? "6.3" : "\(spec.majorVersion).\(spec.minorVersion)"))
            cv.set("CurrentBuild", .string(String(spec.buildNumber)))
            cv.set("CurrentBuildNumber", .string(String(spec.buildNumber)))
            cv.set("UBR", .dword(UInt32(spec.ubr)))
            cv.set("DisplayVersion", .string(spec.displayVersion))
            cv.set("ReleaseId", .string("2009"))
            cv.set("BuildBranch", .string("ni_release"))
            cv.set("BuildLab", .string("\(spec.buildNumber).ni_release.220506-1250"))
            cv.set("BuildLabEx", .string(buildLab))
            cv.set("CurrentType", .string("Multiprocessor Free"))
            cv.set("RegisteredOwner", .string(spec.registeredOwner))
            cv.set("RegisteredOrganization", .string(""))
            cv.set("ProductId", .string("00330-80000-00000-AA\(String(format: "%03d", spec.buildNumber % 1000))"))
            cv.set("InstallDate", .dword(UInt32(installDate.timeIntervalSince1970)))
            cv.set("InstallTime", .qword(RegistryHive.fileTime(installDate)))
        }

        root.withKey(currentVersionWindowsPath) { cv in
            cv.set("ProgramFilesDir", .string("C:\\Program Files"))
            cv.set("CommonFilesDir", .string("C:\\Program Files\\Common Files"))
            if is64 {
                cv.set("ProgramFilesDir (x86)", .string("C:\\Program Files (x86)"))
                cv.set("ProgramW6432Dir", .string("C:\\Program Files"))
            }
            let virtio = spec.virtioDrivers ? ";%SystemRoot%\\Drivers\\VirtIO" : ""
            cv.set("DevicePath", .expandString("%SystemRoot%\\inf" + virtio))
        }

        for app in spec.applications {
            let path = app.wow64 && is64 ? wow64UninstallPath : uninstallPath
            root.add(uninstallKey(app), under: path)
        }
        if root.key(atPath: uninstallPath) == nil { root.withKey(uninstallPath) { _ in } }

        root.set(setupStatePath, "ImageState", .string(spec.imageState))

        root.withKey(servicingPackagesPath) { packages in
            for (i, package) in spec.servicingPackages.enumerated() {
                packages.subkeys.append(servicingKey(package, index: i))
            }
        }
        if spec.servicingPackages.contains(where: { $0.state == .installPending || $0.state == .uninstallPending }) {
            root.withKey(servicingRebootPendingPath) { _ in }
        }
        return root
    }

    static func uninstallKey(_ app: WindowsDiskSpec.Application) -> RegistryKey {
        var key = RegistryKey(app.key)
        key.set("DisplayName", .string(app.displayName))
        key.set("DisplayVersion", .string(app.version))
        key.set("Publisher", .string(app.publisher))
        if !app.installLocation.isEmpty {
            key.set("InstallLocation", .string("C:\\" + app.installLocation))
            key.set("UninstallString", .string("\"C:\\\(app.installLocation)\\uninstall.exe\""))
        }
        key.set("NoModify", .dword(1))
        key.set("NoRepair", .dword(1))
        key.set("EstimatedSize", .dword(40_960))
        return key
    }

    static func servicingKey(_ package: WindowsDiskSpec.ServicingPackage, index: Int) -> RegistryKey {
        var key = RegistryKey(package.name)
        let installTime = RegistryHive.fileTime(installDate) + UInt64(index) * 864_000_000_000
        let cab = package.kb.isEmpty ? package.name : "Windows11.0-\(package.kb)-x64"
        key.set("CurrentState", .dword(package.state.code))
        key.set("InstallClient", .string("UpdateAgentLCU"))
        key.set("InstallName", .string(package.name + ".mum"))
        key.set("InstallLocation", .string("\\\\?\\C:\\Windows\\SoftwareDistribution\\Download\\\(cab).cab"))
        key.set("InstallTimeHigh", .dword(UInt32(installTime >> 32)))
        key.set("InstallTimeLow", .dword(UInt32(truncatingIfNeeded: installTime)))
        key.set("InstallUser", .string("S-1-5-18"))
        key.set("SelfUpdate", .dword(0))
        key.set("Visibility", .dword(1))
        key.add(RegistryKey("Owners", values: [.init(package.name, .dword(0x0002_0070))]), under: "")
        return key
    }

    // MARK: SYSTEM

    public static func system(_ spec: WindowsDiskSpec) -> RegistryKey {
        var root = RegistryKey("ROOT")
        let layout = spec.layout
        root.withKey("Select") { select in
            select.set("Current", .dword(UInt32(spec.controlSet)))
            select.set("Default", .dword(UInt32(spec.controlSet)))
            select.set("LastKnownGood", .dword(UInt32(spec.controlSet)))
            select.set("Failed", .dword(0))
        }
        root.subkeys.append(controlSet(spec, name: spec.controlSetName, computerName: spec.computerName,
                                       hostname: spec.resolvedHostname))
        if spec.controlSet != 1 {
            // A stale set with another name: whoever reads ControlSet001 instead of following
            // Select\Current sees the wrong computer.
            root.subkeys.append(controlSet(spec, name: "ControlSet001", computerName: staleComputerName,
                                           hostname: staleComputerName))
        }
        root.withKey("MountedDevices") { mounted in
            mounted.set("\\DosDevices\\C:", .binary(layout.mountedDevicesValue))
            let volume = DiskLayout.derivedGUID(seed: spec.identitySeed, salt: 9).lowercased()
            mounted.set("\\??\\Volume{\(volume)}", .binary(layout.mountedDevicesValue))
        }
        root.withKey("Setup") { setup in
            setup.set("SystemSetupInProgress", .dword(0))
            setup.set("OOBEInProgress", .dword(0))
        }
        if spec.virtioDrivers && !(spec.majorVersion < 6 || (spec.majorVersion == 6 && spec.minorVersion < 2)) {
            root.withKey("DriverDatabase") { database in
                for (service, ids) in virtioBootDrivers {
                    let inf = "\(service).inf"
                    let package = "\(service).inf_amd64_\(String(format: "%016llx", StableHash.fnv1a64(Data(service.utf8))))"
                    database.set("DriverInfFiles\\\(inf)", "", .multiString([package]))
                    database.set("DriverInfFiles\\\(inf)", "Active", .string(package))
                    for id in ids {
                        database.set("DeviceIds\\PCI\\\(id)", inf, .binary([0x01, 0xFF, 0x00, 0x00]))
                    }
                    database.withKey("DriverPackages\\\(package)") { key in
                        key.set("", .string(inf))
                        key.set("Provider", .string("Red Hat, Inc."))
                        key.set("SignerName", .string("Microsoft Windows Hardware Compatibility Publisher"))
                        key.set("Version", .binary([0, 0, 0xFF, 0xFF, 0, 0, 0, 0] + le(UInt64(0x0064_0000_0000_0000))))
                    }
                }
            }
        }
        return root
    }

    /// The computer name in the stale `ControlSet001` of specs whose current set is another.
    public static let staleComputerName = "STALE-CS001"

    static func controlSet(_ spec: WindowsDiskSpec, name: String, computerName: String, hostname: String) -> RegistryKey {
        var cs = RegistryKey(name)
        cs.set(computerNamePath, "ComputerName", .string(computerName))
        cs.withKey(tcpipParametersPath) { tcpip in
            tcpip.set("Hostname", .string(hostname))
            tcpip.set("NV Hostname", .string(hostname))
            tcpip.set("Domain", .string(""))
        }
        let server = spec.installationType.lowercased() == "server"
        cs.set("Control\\ProductOptions", "ProductType", .string(server ? "ServerNT" : "WinNT"))
        cs.set("Control\\TimeZoneInformation", "TimeZoneKeyName", .string("UTC"))
        cs.withKey(powerPath) { power in
            let hibernating = spec.fault == .hibernated || spec.fault == .fastStartup
            power.set("HibernateEnabled", .dword(hibernating ? 1 : 0))
            power.set("HiberbootEnabled", .dword(spec.fault == .fastStartup ? 1 : 0))
        }
        for (service, imagePath, start) in baseServices {
            cs.withKey("Services\\\(service)") { key in
                key.set("Type", .dword(1))
                key.set("Start", .dword(start))
                key.set("ErrorControl", .dword(1))
                key.set("ImagePath", .expandString(imagePath))
            }
        }
        if spec.virtioDrivers {
            for (service, ids) in virtioBootDrivers {
                cs.withKey("Services\\\(service)") { key in
                    key.set("Type", .dword(1))
                    key.set("Start", .dword(0))
                    key.set("ErrorControl", .dword(1))
                    key.set("Group", .string("SCSI miniport"))
                    key.set("ImagePath", .expandString("system32\\drivers\\\(service).sys"))
                }
                if spec.majorVersion < 6 || (spec.majorVersion == 6 && spec.minorVersion < 2) {
                    for id in ids {
                        cs.withKey("Control\\CriticalDeviceDatabase\\PCI#\(id)") { key in
                            key.set("Service", .string(service))
                            key.set("ClassGUID", .string("{4D36E97B-E325-11CE-BFC1-08002BE10318}"))
                        }
                    }
                }
            }
        }
        return cs
    }

    static let baseServices: [(String, String, UInt32)] = [
        ("disk", "System32\\drivers\\disk.sys", 0),
        ("volmgr", "System32\\drivers\\volmgr.sys", 0),
        ("Ntfs", "System32\\Drivers\\Ntfs.sys", 3),
        ("storahci", "System32\\drivers\\storahci.sys", 0),
        ("Tcpip", "System32\\drivers\\tcpip.sys", 0),
    ]

    // MARK: Other hives

    /// SAM, SECURITY, DEFAULT: small placeholders with the top-level keys Windows has.
    public static func placeholder(_ hive: String) -> RegistryKey {
        var root = RegistryKey("ROOT")
        switch hive.uppercased() {
        case "SAM":
            root.set("SAM\\Domains\\Account\\Users\\Names\\Administrator", "", .other(type: RegistryValueType(rawValue: 0x1F4), data: []))
            root.set("SAM\\Domains\\Builtin\\Aliases\\Names\\Administrators", "", .other(type: RegistryValueType(rawValue: 0x220), data: []))
        case "SECURITY":
            root.withKey("Policy\\Accounts") { _ in }
            root.withKey("Cache") { _ in }
        default:
            root.set("Control Panel\\International", "LocaleName", .string("en-US"))
            root.set("Control Panel\\Desktop", "Wallpaper", .string(""))
        }
        return root
    }

    /// The boot configuration store (a hive too), for the ESP or the System Reserved partition.
    public static func bootConfiguration() -> RegistryKey {
        var root = RegistryKey("ROOT")
        root.set("Description", "KeyName", .string("BCD00000000"))
        root.set("Description", "System", .dword(1))
        root.set("Description", "TreatAsSystem", .dword(1))
        root.set("Objects\\{9dea862c-5cdd-4e70-acc1-f32b344d4795}\\Description", "Type", .dword(0x1010_0002))
        return root
    }
}
