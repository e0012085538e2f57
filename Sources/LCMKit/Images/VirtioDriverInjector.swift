import Foundation
import Guestfs

/// What an injection changed, for the report and the version's note.
public struct DriverInjectionSummary: Codable, Sendable, Equatable {
    /// Driver folders installed from the media, e.g. "viostor/w11/amd64".
    public var folders: [String] = []
    /// Files written on the Windows volume.
    public var files: [String] = []
    /// Boot-critical services created or updated.
    public var bootServices: [String] = []
    /// PCI IDs registered (DriverDatabase on Windows 8 and later, CriticalDeviceDatabase before).
    public var pciIDs: [String] = []
    /// "DriverDatabase" or "CriticalDeviceDatabase".
    public var registration: String = ""
    public var devicePathUpdated: Bool = false
    /// How pnputil runs at first boot: SetupComplete.cmd (generalized images) and lcm's queue.
    public var firstBoot: [String] = []
}

/// Makes an offline Windows boot on virtio: the virt-v2v recipe (see docs/ARCHITECTURE.md):
/// driver files to `Windows\Drivers\VirtIO` and the storage drivers also to `System32\drivers`,
/// boot-start services, the PCI IDs mapped to them, DevicePath extended, and pnputil at first boot
/// to install the packages properly. Works on the Windows volume mounted read-write at `/`.
public enum VirtioDriverInjector {
    static let driverDirectory = "/Windows/Drivers/VirtIO"
    /// The boot-queue item that runs pnputil, "NNN-virtio-drivers.cmd".
    static let queueItemSuffix = "-virtio-drivers.cmd"
    static let scsiAdapterClass = "{4D36E97B-E325-11CE-BFC1-08002BE10318}"
    static let pnputilLine = "pnputil /add-driver C:\\Windows\\Drivers\\VirtIO\\*.inf /subdirs /install"
    static let legacyPnputilLine = "for %%f in (C:\\Windows\\Drivers\\VirtIO\\*.inf) do pnputil -i -a \"%%f\""

    public static func inject(_ drivers: [VirtioDriverSource.Driver], session g: GuestfsSession,
                              inspection: WindowsInspection) throws -> DriverInjectionSummary {
        guard let root = inspection.systemRoot, let controlSet = inspection.controlSet else {
            throw LCMError(.dataError, "no Windows system root to put drivers in")
        }
        var summary = DriverInjectionSummary()
        try copyFiles(drivers, g, root: root, into: &summary)
        let config = try g.caseSensitivePath(root + "/System32/config")
        try g.withHive(try g.caseSensitivePath(config + "/SYSTEM"), write: true) { g in
            try registerServices(drivers, g, controlSet: controlSet, inspection: inspection, into: &summary)
        }
        try g.withHive(try g.caseSensitivePath(config + "/SOFTWARE"), write: true) { g in
            try addDevicePath(g, into: &summary)
        }
        try scheduleFirstBootInstall(g, root: root, inspection: inspection, into: &summary)
        return summary
    }

    /// The packages into the driver folder, and each storage driver's .sys into System32\drivers,
    /// where the boot loader finds it.
    static func copyFiles(_ drivers: [VirtioDriverSource.Driver], _ g: GuestfsSession, root: String,
                          into summary: inout DriverInjectionSummary) throws {
        let target = try ensureDirectory(g, root + "/Drivers/VirtIO")
        let systemDrivers = try g.caseSensitivePath(root + "/System32/drivers")
        for driver in drivers {
            summary.folders.append(driver.folder)
            for file in driver.files {
                try g.write(target + "/" + file.name, [UInt8](file.data))
                summary.files.append(target + "/" + file.name)
                if driver.storage && file.name.lowercased() == "\(driver.service).sys" {
                    try g.write(systemDrivers + "/" + file.name.lowercased(), [UInt8](file.data))
                    summary.files.append(systemDrivers + "/" + file.name.lowercased())
                }
            }
        }
    }

    /// SYSTEM (open in `g`): each driver's service, and the storage drivers' PCI IDs, so Windows
    /// boots from a virtio disk before any driver is installed.
    static func registerServices(_ drivers: [VirtioDriverSource.Driver], _ g: GuestfsSession, controlSet: String,
                                 inspection: WindowsInspection, into summary: inout DriverInjectionSummary) throws {
        // By version, not by looking for the key: Windows 8 (6.2) and later keep the driver
        // store's database in SYSTEM, and a missing key there is created, not taken as Windows 7.
        let major = inspection.majorVersion ?? 0, minor = inspection.minorVersion ?? 0
        let usesDriverDatabase = major > 6 || (major == 6 && minor >= 2)
        summary.registration = usesDriverDatabase ? "DriverDatabase" : "CriticalDeviceDatabase"
        for driver in drivers {
            guard let service = try g.node(atPath: "\(controlSet)\\Services\\\(driver.service)", create: true) else { continue }
            if driver.storage {
                try g.nodeSetValue(service, key: "Type", .dword(1))
                try g.nodeSetValue(service, key: "Start", .dword(0))
                try g.nodeSetValue(service, key: "ErrorControl", .dword(1))
                try g.nodeSetValue(service, key: "Group", .string("SCSI miniport"))
                try g.nodeSetValue(service, key: "ImagePath", .expandString("system32\\drivers\\\(driver.service).sys"))
                summary.bootServices.append(driver.service)
            } else if try g.value(service, "Start") == nil {
                // The network driver is installed by pnputil at first boot; the entry marks it as coming.
                try g.nodeSetValue(service, key: "Type", .dword(1))
                try g.nodeSetValue(service, key: "Start", .dword(3))
                try g.nodeSetValue(service, key: "ErrorControl", .dword(1))
                try g.nodeSetValue(service, key: "Group", .string("NDIS"))
                try g.nodeSetValue(service, key: "ImagePath", .expandString("system32\\drivers\\\(driver.service).sys"))
            }
            guard driver.storage else { continue }
            if usesDriverDatabase {
                try registerInDriverDatabase(g, driver: driver)
            } else {
                try registerInCriticalDeviceDatabase(g, driver: driver, controlSet: controlSet)
            }
            summary.pciIDs += driver.pciIDs
        }
    }

    /// SOFTWARE (open in `g`): the driver folder added to where Plug and Play looks for drivers.
    static func addDevicePath(_ g: GuestfsSession, into summary: inout DriverInjectionSummary) throws {
        guard let key = try g.node(atPath: "Microsoft\\Windows\\CurrentVersion", create: true) else { return }
        let current = try g.value(key, "DevicePath")?.stringValue ?? "%SystemRoot%\\inf"
        if current.range(of: "Drivers\\VirtIO", options: .caseInsensitive) == nil {
            try g.nodeSetValue(key, key: "DevicePath", .expandString(current + ";%SystemRoot%\\Drivers\\VirtIO"))
            summary.devicePathUpdated = true
        }
    }

    /// First boot installs the packages properly (pnputil), by two routes: SetupComplete.cmd
    /// and lcm's boot queue.
    static func scheduleFirstBootInstall(_ g: GuestfsSession, root: String, inspection: WindowsInspection,
                                         into summary: inout DriverInjectionSummary) throws {
        let modern = (inspection.majorVersion ?? 0) >= 10
        let line = modern ? pnputilLine : legacyPnputilLine
        let scripts = try ensureDirectory(g, root + "/Setup/Scripts")
        let setupComplete = scripts + "/SetupComplete.cmd"
        var script = (try? g.isFile(setupComplete)) == true ? try g.readString(setupComplete) : "@echo off\r\n"
        if !script.contains(line) {
            if !script.hasSuffix("\n") { script += "\r\n" }
            script += line + "\r\n"
            try g.writeString(setupComplete, script)
        }
        summary.firstBoot.append("SetupComplete.cmd")
        try stageQueueItem(g, command: line)
        summary.firstBoot.append("lcm queue")
    }

    /// Windows 8 and later: the driver store's database in SYSTEM maps device IDs to INF packages.
    static func registerInDriverDatabase(_ g: GuestfsSession, driver: VirtioDriverSource.Driver) throws {
        let inf = (driver.infName ?? "\(driver.service).inf").lowercased()
        let package = "\(inf)_amd64_lcm\(driver.service)"
        if let key = try g.node(atPath: "DriverDatabase\\DriverInfFiles\\\(inf)", create: true) {
            try g.nodeSetValue(key, key: "", .multiString([package]))
            try g.nodeSetValue(key, key: "Active", .string(package))
        }
        for id in driver.pciIDs {
            if let key = try g.node(atPath: "DriverDatabase\\DeviceIds\\PCI\\\(id)", create: true) {
                try g.nodeSetValue(key, key: inf, type: .binary, bytes: [0x01, 0xFF, 0x00, 0x00])
            }
        }
        if let key = try g.node(atPath: "DriverDatabase\\DriverPackages\\\(package)", create: true) {
            try g.nodeSetValue(key, key: "", .string(inf))
            try g.nodeSetValue(key, key: "Provider", .string("Red Hat, Inc."))
        }
    }

    /// Windows 7 and older: CriticalDeviceDatabase tells the boot loader which service drives a device.
    static func registerInCriticalDeviceDatabase(_ g: GuestfsSession, driver: VirtioDriverSource.Driver, controlSet: String) throws {
        for id in driver.pciIDs {
            let name = "PCI#" + id.replacingOccurrences(of: "\\", with: "#")
            if let key = try g.node(atPath: "\(controlSet)\\Control\\CriticalDeviceDatabase\\\(name)", create: true) {
                try g.nodeSetValue(key, key: "Service", .string(driver.service))
                try g.nodeSetValue(key, key: "ClassGUID", .string(scsiAdapterClass))
            }
        }
    }

    /// Adds a command to lcm's boot-time queue (the runner contract: one file per item plus a
    /// manifest line), after any items already there.
    static func stageQueueItem(_ g: GuestfsSession, command: String) throws {
        let queue = try ensureDirectory(g, WindowsInspector.queueDirectory)
        let manifestPath = WindowsInspector.queueManifestPath
        var manifest = (try? g.isFile(manifestPath)) == true ? try g.readString(manifestPath)
            : "# lcm boot-time queue: order, item, kind, options\n"
        if manifest.contains(queueItemSuffix) { return }
        let orders = manifest.split(whereSeparator: \.isNewline).compactMap { line -> Int? in
            line.hasPrefix("#") ? nil : Int(line.split(separator: "\t").first ?? "")
        }
        let order = (orders.max() ?? 0) + 1
        let item = String(format: "%03d", order) + queueItemSuffix
        try g.writeString(queue + "/" + item, "@echo off\r\n" + command + "\r\n")
        if !manifest.hasSuffix("\n") { manifest += "\n" }
        manifest += "\(order)\t\(item)\tcmd\t-\n"
        try g.writeString(manifestPath, manifest)
    }

    /// The directory's actual path, created (with parents) when missing.
    /// Walks component by component: existing ones keep their on-disk case (NTFS is
    /// case-insensitive to Windows, but not to the appliance), missing ones are made.
    static func ensureDirectory(_ g: GuestfsSession, _ path: String) throws -> String {
        var current = ""
        for component in path.split(separator: "/") {
            let candidate = current + "/" + component
            if let actual = try? g.caseSensitivePath(candidate), (try? g.isDir(actual)) == true {
                current = actual
            } else {
                try g.mkdirP(candidate)
                current = candidate
            }
        }
        return current
    }
}
