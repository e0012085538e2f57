import Foundation
import Guestfs
import Hivex

/// Reads a disk's Windows installation offline, on an appliance the disk engine launched: which
/// partition holds Windows, what the registry hives say, and the few files that decide whether
/// the image is safe to roll out.
///
/// It reads the hives itself instead of calling libguestfs inspection: `inspect_os` probes every
/// filesystem and costs about 12 s per disk under TCG, and it reads none of the fields readiness
/// needs (ImageState, CBS, drivers, hibernation). Field by field it follows the same rules, so
/// both report the same values. The two hives are copied out in one call each and read here
/// with libhivex: read through libguestfs's hivex calls, every key and value is an appliance
/// round trip (2-10 ms under TCG), and an image with many updates and applications has thousands.
public enum WindowsInspector {
    /// Registry paths, relative to their hive's root.
    enum Paths {
        static let currentVersion = "Microsoft\\Windows NT\\CurrentVersion"
        static let windowsCurrentVersion = "Microsoft\\Windows\\CurrentVersion"
        static let setupState = "Microsoft\\Windows\\CurrentVersion\\Setup\\State"
        static let uninstall = "Microsoft\\Windows\\CurrentVersion\\Uninstall"
        static let uninstall32 = "WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
        static let servicingPackages = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"
        static let servicingRebootPending = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"
        static let computerName = "Control\\ComputerName\\ComputerName"
        static let tcpip = "Services\\Tcpip\\Parameters"
        static let power = "Control\\Session Manager\\Power"
    }

    /// Virtio driver services lcm looks for, by role.
    public static let virtioStorageServices = ["viostor", "vioscsi"]
    public static let virtioNetworkServices = ["netkvm"]

    /// Where Windows Setup and sysprep leave answer files (relative to the volume root).
    public static let answerFilePaths = BootRunnerContract.answerFilePaths.map { "/" + $0 }

    /// lcm's boot-time queue, relative to the Windows volume (see the runner contract).
    public static let queueManifestPath = "/ProgramData/lcm/queue/manifest.tsv"
    public static let queueDirectory = "/ProgramData/lcm/queue"
    public static let runnerLogPath = "/ProgramData/lcm/runner.log"

    /// Inspects the disk `access` presents. Leaves nothing mounted and no hive open.
    public static func inspect(_ access: DiskAccess) throws -> WindowsInspection {
        try inspect(session: access.session, device: access.device, partitions: try access.partitions())
    }

    public static func inspect(session g: GuestfsSession, device: String, partitions: [String]) throws -> WindowsInspection {
        var result = WindowsInspection()
        // A disk without a partition table may carry its filesystem on the whole device.
        let candidates = partitions.isEmpty ? [device] : partitions
        let table = try? PartitionTable.read(g, device: device)
        let sizes = Dictionary((table?.entries ?? []).map { ("\(device)\($0.number)", Int64($0.sizeBytes)) }, uniquingKeysWith: { a, _ in a })
        let reserved = Set((table?.entries ?? []).filter { $0.isMicrosoftReserved }.map { "\(device)\($0.number)" })
        for partition in candidates {
            // The Microsoft reserved partition never holds a filesystem: no need to probe it.
            let filesystem = reserved.contains(partition) ? "" : (try? g.vfsType(partition)) ?? ""
            let size = sizes[partition] ?? (try? g.blockdevGetSize64(partition))
            result.partitions.append(PartitionSummary(device: partition, filesystem: filesystem.isEmpty ? "unknown" : filesystem,
                                                      sizeBytes: size))
            if filesystem.caseInsensitiveCompare("BitLocker") == .orderedSame { result.bitLockerPartitions.append(partition) }
        }
        for summary in result.partitions where summary.filesystem == "ntfs" {
            let writable = (try? g.ntfs3gProbe(summary.device, readWrite: true)) ?? false
            guard (try? g.mountReadOnly(summary.device)) != nil else { continue }
            defer { try? g.umountAll() }
            guard let root = try systemRoot(g) else { continue }
            result.isWindows = true
            result.windowsPartition = summary.device
            result.systemRoot = root
            result.hibernation.writableOffline = writable
            let mounted = try readVolume(g, root: root, into: &result)
            result.driveLetters = driveLetters(table: table, device: device, partitions: partitions, mounted: mounted)
            break
        }
        return result
    }

    /// The Windows directory when this volume holds a system root with both hives.
    static func systemRoot(_ g: GuestfsSession) throws -> String? {
        for name in ["/Windows", "/WINNT", "/win32", "/win"] {
            guard let root = try? g.caseSensitivePath(name), (try? g.isDir(root)) == true else { continue }
            guard let software = try? g.caseSensitivePath(root + "/System32/config/SOFTWARE"),
                  let system = try? g.caseSensitivePath(root + "/System32/config/SYSTEM"),
                  (try? g.isFile(software)) == true, (try? g.isFile(system)) == true else { continue }
            return root
        }
        return nil
    }

    /// Reads hives and files; returns the raw `MountedDevices` entries by drive letter.
    static func readVolume(_ g: GuestfsSession, root: String, into result: inout WindowsInspection) throws -> [String: [UInt8]] {
        let config = try g.caseSensitivePath(root + "/System32/config")
        let copies = try HiveCopies()
        try readSoftware(HiveReader(try copies.copy(g, config + "/SOFTWARE")), into: &result)
        let mounted = try readSystem(HiveReader(try copies.copy(g, config + "/SYSTEM")), into: &result)
        result.osName = WindowsInspection.osName(productName: result.productName, installationType: result.installationType,
                                                 majorVersion: result.majorVersion, buildNumber: result.buildNumber)
        result.architecture = try architecture(g, root: root)
        result.virtio.storageDrivers = try result.virtio.storageDrivers.filter { service in
            let sys = try g.caseSensitivePath(root + "/System32/drivers/\(service).sys")
            return try g.isFile(sys)
        }
        result.hibernation.hiberfilSignature = try signature(g, path: "/hiberfil.sys")
        result.answerFiles = try answerFiles(g)
        result.lcmQueue = try queueState(g)
        return mounted
    }

    // MARK: SOFTWARE

    static func readSoftware(_ hive: HiveReader, into result: inout WindowsInspection) throws {
        if let cv = try hive.key(Paths.currentVersion) {
            result.productName = try hive.string(cv, "ProductName")
            result.editionID = try hive.string(cv, "EditionID")
            result.installationType = try hive.string(cv, "InstallationType")
            if let major = try hive.integer(cv, "CurrentMajorVersionNumber") {
                result.majorVersion = Int(major)
                result.minorVersion = Int(try hive.integer(cv, "CurrentMinorVersionNumber") ?? 0)
            } else if let version = try hive.string(cv, "CurrentVersion") {
                let parts = version.split(separator: ".").compactMap { Int($0) }
                if parts.count == 2 { result.majorVersion = parts[0]; result.minorVersion = parts[1] }
            }
            result.buildNumber = try (hive.string(cv, "CurrentBuildNumber") ?? hive.string(cv, "CurrentBuild")).flatMap { Int($0) }
            result.ubr = try hive.integer(cv, "UBR").map { Int($0) }
            result.displayVersion = try hive.string(cv, "DisplayVersion") ?? hive.string(cv, "ReleaseId")
        }
        if let state = try hive.key(Paths.setupState) {
            result.generalization.imageState = try hive.string(state, "ImageState")
        }
        if let windows = try hive.key(Paths.windowsCurrentVersion), let devicePath = try hive.string(windows, "DevicePath") {
            result.virtio.devicePathIncludesDrivers = devicePath.range(of: "Drivers\\VirtIO", options: .caseInsensitive) != nil
        }
        result.applications = try applications(hive, path: Paths.uninstall, is32BitOn64: false)
            + applications(hive, path: Paths.uninstall32, is32BitOn64: true)
        result.servicing = try servicing(hive)
    }

    static func applications(_ hive: HiveReader, path: String, is32BitOn64: Bool) throws -> [InstalledApplication] {
        guard let uninstall = try hive.key(path) else { return [] }
        return try hive.hive.children(uninstall).map { child in
            InstalledApplication(key: try hive.hive.name(child), displayName: try hive.string(child, "DisplayName"),
                                 version: try hive.string(child, "DisplayVersion"), publisher: try hive.string(child, "Publisher"),
                                 installLocation: try hive.string(child, "InstallLocation"), is32BitOn64: is32BitOn64)
        }
    }

    /// CBS `CurrentState` codes and their names.
    static let servicingStates: [UInt32: String] = [
        0x00: "Absent", 0x05: "UninstallPending", 0x10: "Resolving", 0x20: "Resolved", 0x30: "Staging",
        0x40: "Staged", 0x50: "Superseded", 0x60: "InstallPending", 0x65: "PartiallyInstalled",
        0x70: "Installed", 0x80: "Permanent",
    ]

    static func servicing(_ hive: HiveReader) throws -> ServicingState {
        var state = ServicingState()
        state.rebootPending = try hive.key(Paths.servicingRebootPending) != nil
        guard let packages = try hive.key(Paths.servicingPackages) else { return state }
        var updates = Set<String>()
        for child in try hive.hive.children(packages) {
            let name = try hive.hive.name(child)
            let code = try hive.integer(child, "CurrentState").map { UInt32(truncatingIfNeeded: $0) }
            let stateName = code.map { servicingStates[$0] ?? String(format: "0x%02X", $0) } ?? "Unknown"
            state.packages.append(ServicingPackage(name: name, state: stateName, stateCode: code))
            if code == 0x70 || code == 0x80 {
                // Rollups ("Package_for_RollupFix~...") name their KB only in the .cab they came from.
                if let kb = try knowledgeBaseNumber(in: name) ?? hive.string(child, "InstallLocation").flatMap(knowledgeBaseNumber) {
                    updates.insert(kb)
                }
            }
            if code == 0x60 || code == 0x05 { state.pendingPackages.append(name) }
        }
        state.installedUpdates = updates.sorted()
        return state
    }

    /// "KB5031455" from "Package_for_KB5031455~31bf3856ad364e35~amd64~~22621.2428.1.7".
    static func knowledgeBaseNumber(in package: String) -> String? {
        guard let range = package.range(of: "KB[0-9]+", options: [.regularExpression, .caseInsensitive]) else { return nil }
        return package[range].uppercased()
    }

    // MARK: SYSTEM

    static func readSystem(_ hive: HiveReader, into result: inout WindowsInspection) throws -> [String: [UInt8]] {
        var current = 1
        if let select = try hive.key("Select"), let value = try hive.integer(select, "Current") { current = Int(value) }
        let controlSet = String(format: "ControlSet%03d", current)
        result.controlSet = controlSet
        if let key = try hive.key(controlSet + "\\" + Paths.computerName) {
            result.computerName = try hive.string(key, "ComputerName")
        }
        if let key = try hive.key(controlSet + "\\" + Paths.tcpip) {
            result.hostname = try hive.string(key, "Hostname")
        }
        if let key = try hive.key(controlSet + "\\" + Paths.power) {
            result.hibernation.fastStartupEnabled = (try hive.integer(key, "HiberbootEnabled") ?? 0) == 1
        }
        for service in virtioStorageServices {
            // A boot driver (Start 0) is what a virtio boot disk needs; a demand-start entry is not enough.
            if let key = try hive.key(controlSet + "\\Services\\" + service), try hive.integer(key, "Start") == 0 {
                result.virtio.storageDrivers.append(service)
            }
        }
        for service in virtioNetworkServices where try hive.key(controlSet + "\\Services\\" + service) != nil {
            result.virtio.networkDrivers.append(service)
        }
        var letters: [String: [UInt8]] = [:]
        if let mounted = try hive.key("MountedDevices") {
            for handle in try hive.hive.values(mounted) {
                let name = try hive.hive.key(handle)
                guard name.hasPrefix("\\DosDevices\\"), name.count == 14, name.hasSuffix(":") else { continue }
                letters[String(name.dropFirst(12).prefix(1))] = try hive.hive.data(handle).bytes
            }
        }
        return letters
    }

    // MARK: Drive letters

    /// Maps `MountedDevices` entries to this disk's partitions: MBR entries are the disk signature
    /// and the partition's byte offset; GPT entries are "DMIO:ID:" and the partition GUID.
    static func driveLetters(table: PartitionTable?, device: String, partitions: [String], mounted: [String: [UInt8]]) -> [DriveLetter] {
        guard let table, !mounted.isEmpty else { return [] }
        var byEntry: [[UInt8]: String] = [:]
        for (partition, key) in table.mountedDeviceKeys(device: device) where partitions.contains(partition) {
            byEntry[key] = partition
        }
        return mounted.compactMap { letter, bytes in byEntry[bytes].map { DriveLetter(letter: letter, partition: $0) } }
            .sorted { $0.letter < $1.letter }
    }

    // MARK: Files

    /// x86_64 or i386 from the PE header of cmd.exe (the file libguestfs inspection also reads).
    static func architecture(_ g: GuestfsSession, root: String) throws -> String? {
        guard let cmd = try? g.caseSensitivePath(root + "/System32/cmd.exe"), try g.isFile(cmd) else { return nil }
        let head = try g.pread(cmd, count: 4096, offset: 0)
        return PEHeader.architecture(of: head)
    }

    /// The first four bytes of a file as text, or nil when it does not exist.
    static func signature(_ g: GuestfsSession, path: String) throws -> String? {
        guard let actual = try? g.caseSensitivePath(path), try g.isFile(actual) else { return nil }
        let bytes = try g.pread(actual, count: 4, offset: 0)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func answerFiles(_ g: GuestfsSession) throws -> [AnswerFile] {
        var found: [AnswerFile] = []
        for path in answerFilePaths {
            guard let actual = try? g.caseSensitivePath(path), (try? g.isFile(actual)) == true else { continue }
            // Answer files are small; a huge one is not an answer file worth reading whole.
            guard try g.filesize(actual) < 4 << 20 else { continue }
            let bytes = Data(try g.read(actual))
            let declaresEntities = (try? SafeXML.refuseDeclarations(in: bytes, source: actual)) == nil
            found.append(AnswerFile(path: actual, secrets: AnswerFileScanner.secrets(in: String(decoding: bytes, as: UTF8.self)),
                                    declaresEntities: declaresEntities))
        }
        return found
    }

    static func queueState(_ g: GuestfsSession) throws -> LCMQueueState {
        var state = LCMQueueState()
        if let manifest = try? g.caseSensitivePath(queueManifestPath), (try? g.isFile(manifest)) == true {
            for line in try g.readString(manifest).split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count >= 3 else { continue }
                if (try? g.isFile(queueDirectory + "/" + fields[1])) == true {
                    state.pendingItems += 1
                    state.pendingItemNames.append(String(fields[1]))
                }
            }
        }
        if let log = try? g.caseSensitivePath(runnerLogPath), (try? g.isFile(log)) == true {
            for line in try g.readString(log).split(whereSeparator: \.isNewline) {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count >= 5, let code = Int32(fields[3]) else { continue }
                state.results += 1
                if code != 0 && code != 3010 && code != 1641 { state.failedResults += 1 }
            }
        }
        return state
    }
}

/// Small conveniences over an open hive.
struct HiveReader {
    let hive: Hive
    init(_ hive: Hive) { self.hive = hive }

    /// The key at a backslash-separated path below the root, or nil.
    func key(_ path: String) throws -> Hive.Node? {
        var node = try hive.root
        for component in path.split(separator: "\\") {
            guard let child = try hive.child(node, String(component)) else { return nil }
            node = child
        }
        return node
    }

    func value(_ node: Hive.Node, _ name: String) throws -> RegistryValue? {
        guard let handle = try hive.value(node, name) else { return nil }
        let data = try hive.data(handle)
        return RegistryValue(type: RegistryValueType(rawValue: data.type), data: data.bytes)
    }

    func string(_ node: Hive.Node, _ name: String) throws -> String? { try value(node, name)?.stringValue }
    func integer(_ node: Hive.Node, _ name: String) throws -> UInt64? { try value(node, name)?.integerValue }
}

/// Copies of an image's hives on this host, in a private directory removed when the last
/// reference goes (the hives are read while open; libhivex maps the whole file).
final class HiveCopies {
    let directory: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/lcm-hives-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw LCMError(.cannotWrite, "cannot create a private directory in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))",
                           hint: "set TMPDIR to a writable directory with room for two registry hives")
        }
        directory = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Downloads the hive at `path` (case-insensitive) and opens the copy.
    func copy(_ g: GuestfsSession, _ path: String) throws -> Hive {
        let actual = try g.caseSensitivePath(path)
        let local = directory + "/" + (actual as NSString).lastPathComponent
        try g.download(actual, to: local)
        do {
            return try Hive(path: local)
        } catch {
            throw LCMError(.dataError, "the registry hive \(actual) is damaged: \(error)",
                           hint: "the image cannot be read offline; repair it in Windows or use another image")
        }
    }
}

/// Finds the secrets an unattend answer file carries, by element name (values never leave here).
public enum AnswerFileScanner {
    public static func secrets(in xml: String) -> [String] {
        var kinds: [String] = []
        func has(_ element: String) -> Bool { xml.range(of: "<\(element)[ >]", options: [.regularExpression, .caseInsensitive]) != nil }
        if has("AdministratorPassword") || has("Password") || has("LocalAccount") && has("Value") { kinds.append("password") }
        if has("ProductKey") || has("Key") && has("UserData") { kinds.append("product key") }
        if has("Credentials") || has("UnsecureJoin") { kinds.append("domain join credentials") }
        // The offline join blob (djoin) carries the machine account's password.
        if has("AccountData") { kinds.append("domain join blob") }
        return kinds
    }
}

/// The machine type of a PE executable, as libguestfs decides an architecture from cmd.exe.
enum PEHeader {
    static func architecture(of bytes: [UInt8]) -> String? {
        guard bytes.count >= 0x40, bytes[0] == 0x4D, bytes[1] == 0x5A else { return nil }
        let offset = Int(bytes[0x3C]) | Int(bytes[0x3D]) << 8 | Int(bytes[0x3E]) << 16 | Int(bytes[0x3F]) << 24
        guard offset >= 0, offset + 6 <= bytes.count, bytes[offset..<offset + 4].elementsEqual([0x50, 0x45, 0, 0]) else { return nil }
        let machine = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8
        switch machine {
        case 0x8664: return "x86_64"
        case 0x014C: return "i386"
        case 0xAA64: return "aarch64"
        default: return nil
        }
    }
}
