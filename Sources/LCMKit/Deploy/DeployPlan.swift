import Foundation
import GRDB

/// What an admin asks for one desktop (a command line, or one row of a CSV).
public struct DeployRequest: Sendable, Equatable {
    public var desktop: String?
    public var device: String
    public var user: String?
    public var image: String
    public var vcpus: Int?
    public var memoryBytes: UInt64?
    public var osDiskBytes: UInt64?
    public var dataDiskBytes: UInt64?
    public var computerName: String?
    public var timeZone: String?
    public var organization: String?
    public var licensePool: String?
    /// A tar or zip of the user's old data, unpacked onto the user-data disk.
    public var migrateArchive: String?
    /// Where the request came from, for messages ("line 4 of fleet.csv").
    public var origin: String?

    public init(desktop: String? = nil, device: String, user: String? = nil, image: String) {
        self.desktop = desktop; self.device = device; self.user = user; self.image = image
    }
}

/// Choices that apply to every desktop of a run.
public struct DeployOptions: Sendable {
    public var encrypt = true
    public var allowUngeneralized = false
    public var start = true
    public var network = "default"
    /// The storage pool on each device that holds golden versions and desktops' volumes.
    public var pool = DeviceStoragePool.name
    public var accelerator: Accelerator = .auto
    /// UEFI Secure Boot with Microsoft's keys enrolled; a device that cannot offer it is refused
    /// unless this is turned off (`--no-secure-boot`, recorded).
    public var secureBoot = true
    public var defaultTimeZone = "UTC"
    /// The `djoin /provision` blob for offline domain join; never stored, logged or passed on a command line.
    public var joinBlob: OfflineDomainJoinBlob?
    /// Engine settings for the personalization launch.
    public var engine = DiskEngine.Options()
    /// Told of golden uploads' bytes and of desktops done (the engine's own sink, in `engine`,
    /// tells of launches and disks).
    public var progress: ProgressSink?

    public init() {}
}

/// Everything a desktop's deployment decided, stored with the desktop (no secrets) so a rerun
/// resumes with the same choices.
public struct DesktopSettings: Codable, Sendable, Equatable {
    public var imageReference: String
    public var imageVersionID: Int64
    public var imagePath: String
    public var imageSHA256: String
    public var uri: String
    public var deviceTag: String
    public var user: String?
    public var vcpus: Int
    public var memoryBytes: UInt64
    public var osDiskBytes: UInt64
    public var dataDiskBytes: UInt64
    public var encrypted: Bool
    public var allowUngeneralized: Bool
    public var generalized: Bool
    /// "virtio", or "sata" for an image without virtio storage drivers.
    public var storageBus: String
    /// "virtio", or "e1000e" for an image without the virtio network driver.
    public var networkModel: String
    public var network: String
    public var computerName: String
    public var owner: String
    public var organization: String?
    public var timeZone: String
    public var licensePool: String?
    public var migrateArchive: String?
    public var architecture: String
    public var discard: Bool
    public var joinBlobBytes: Int?
    public var start: Bool
    public var domainType: String
    /// The device's storage pool when not lcm's own (absent in settings stored before it existed).
    public var storagePool: String?
    /// Whether the domain boots with Secure Boot and Microsoft's keys enrolled. Absent in settings
    /// stored before it existed: those desktops were defined without it.
    public var secureBoot: Bool?

    public var pool: String { storagePool ?? DeviceStoragePool.name }
    public var usesSecureBoot: Bool { secureBoot ?? false }

    /// What a rerun asks differently from these (stored) settings, as "what: stored -> asked";
    /// only what the admin chooses (names, user, sizes, placement), not what lcm derives.
    func askedDifferently(from asked: DesktopSettings) -> [String] {
        var changes: [String] = []
        func compare<T: Equatable>(_ what: String, _ stored: T, _ new: T, _ show: (T) -> String) {
            if stored != new { changes.append("\(what): \(show(stored)) -> \(show(new))") }
        }
        let text: (String?) -> String = { $0 ?? "none" }
        let size: (UInt64) -> String = { ByteSize.format($0) }
        compare("user", user, asked.user, text)
        compare("computer name", computerName, asked.computerName) { $0 }
        compare("time zone", timeZone, asked.timeZone) { $0 }
        compare("organization", organization, asked.organization, text)
        compare("license pool", licensePool, asked.licensePool, text)
        compare("user-data archive", migrateArchive, asked.migrateArchive, text)
        compare("network", network, asked.network) { $0 }
        compare("storage pool", pool, asked.pool) { $0 }
        compare("encryption", encrypted, asked.encrypted) { $0 ? "on" : "off" }
        compare("Secure Boot", usesSecureBoot, asked.usesSecureBoot) { $0 ? "on" : "off" }
        compare("vCPUs", vcpus, asked.vcpus) { String($0) }
        compare("memory", memoryBytes, asked.memoryBytes, size)
        compare("OS disk", osDiskBytes, asked.osDiskBytes, size)
        compare("data disk", dataDiskBytes, asked.dataDiskBytes, size)
        return changes
    }

    /// Volume names in the device's pool (the desktop name is validated to be safe for them).
    public static func osVolume(_ desktop: String) -> String { "\(desktop)-os.qcow2" }
    public static func dataVolume(_ desktop: String) -> String { "\(desktop)-data.qcow2" }
}

/// How far a desktop's deployment got. A rerun continues from here.
public enum DeployStage: String, Codable, Sendable, Comparable {
    /// Row, seat and assignment written; nothing on the device yet.
    case recorded
    /// Golden version on the host, key, OS layer and user-data disk created.
    case prepared
    /// Computer name, owner, time zone, join and user data written offline.
    case personalized
    /// Domain defined (and started unless --no-start).
    case complete

    var order: Int { [.recorded, .prepared, .personalized, .complete].firstIndex(of: self)! }
    public static func < (a: DeployStage, b: DeployStage) -> Bool { a.order < b.order }
}

/// Rules for desktop names: they become libvirt domain and volume names and a default computer name.
public enum DesktopNames {
    public static func validate(_ name: String) throws { try NameRule.desktop.validate(name) }
}

/// Turns a request into settings, checking everything that can be checked before anything changes.
public enum DeployPlanner {
    public static func plan(_ request: DeployRequest, options: DeployOptions, db: Database) throws -> (name: String, settings: DesktopSettings) {
        let device = try DeviceLifecycle.find(db, request.device)
        guard let uri = device.libvirtURI, !uri.isEmpty else {
            throw LCMError(.usage, "device \(device.assetTag) has no libvirt URI",
                           hint: "set it: lcm procure update \(device.assetTag) --libvirt-uri qemu+ssh://HOST/system")
        }
        guard device.status == .inStock || device.status == .deployed else {
            throw LCMError(.conflict, "device \(device.assetTag) is \(device.status.rawValue): desktops go only on devices in stock or deployed")
        }
        let name = request.desktop ?? defaultDesktopName(device: device.assetTag, user: request.user)
        try DesktopNames.validate(name)

        let reference = try ImageReference(parsing: request.image)
        let entry = try ImageCatalog.resolve(db, reference)
        guard let versionID = entry.id, let sha256 = entry.sha256 else {
            throw LCMError(.dataError, "image \(entry.reference) has no checksum", hint: "run `lcm image verify \(entry.reference)`")
        }
        guard let inspection = entry.inspection, inspection.isWindows else {
            throw LCMError(.dataError, "image \(entry.reference) holds no Windows installation lcm can personalize",
                           hint: "`lcm image inspect \(entry.reference)` shows what it holds")
        }
        let generalized = inspection.generalization.generalized
        if !generalized && !options.allowUngeneralized {
            throw LCMError(.conflict, "image \(entry.reference) is not generalized (ImageState \(inspection.generalization.imageState ?? "unknown")): every clone would share its SID, MachineGuid and update-client IDs",
                           hint: "run sysprep /generalize /oobe in it and import the result, or pass --allow-ungeneralized (recorded)")
        }
        if inspection.hibernation.hibernated || !inspection.hibernation.writableOffline {
            throw LCMError(.conflict, "image \(entry.reference) holds a hibernated Windows session: it cannot be personalized offline",
                           hint: "boot it, disable Fast Startup (powercfg /h off), shut it down, and import it again")
        }

        let sizing = try device.profileID.flatMap { try ProfileRecord.fetchOne(db, key: $0) }.map { try $0.profile().vm }
            ?? RequirementProfile.VMSizing()
        let computerName = try request.computerName ?? defaultComputerName(name)
        // An unknown user is added when the desktop is recorded (as procure's check-out does).
        let user = try request.user.flatMap { try User.filter(Column("username") == $0).fetchOne(db) }
        let owner = user?.fullName ?? user?.username ?? request.user ?? "lcm"
        var osDisk = request.osDiskBytes ?? sizing.osDiskBytes
        if let virtual = entry.virtualSize, osDisk < UInt64(virtual) {
            // An OS layer cannot be smaller than its golden image: asked for, that is refused;
            // a profile's default is raised to fit.
            if let asked = request.osDiskBytes {
                throw LCMError(.usage, "--os-disk \(ByteSize.format(asked)) is smaller than image \(entry.reference) (\(ByteSize.format(UInt64(virtual))))",
                               hint: "give at least \(ByteSize.format(UInt64(virtual))), or leave --os-disk out to take the image's size")
            }
            osDisk = UInt64(virtual)
        }
        let settings = DesktopSettings(
            imageReference: entry.reference, imageVersionID: versionID, imagePath: entry.path, imageSHA256: sha256,
            uri: uri, deviceTag: device.assetTag, user: request.user,
            vcpus: request.vcpus ?? sizing.vcpus, memoryBytes: request.memoryBytes ?? sizing.memoryBytes,
            osDiskBytes: osDisk, dataDiskBytes: request.dataDiskBytes ?? sizing.dataDiskBytes,
            encrypted: options.encrypt, allowUngeneralized: !generalized && options.allowUngeneralized, generalized: generalized,
            storageBus: inspection.virtio.hasStorageDriver ? "virtio" : "sata",
            networkModel: inspection.virtio.hasNetworkDriver ? "virtio" : "e1000e", network: options.network,
            computerName: computerName, owner: owner, organization: request.organization,
            timeZone: request.timeZone ?? options.defaultTimeZone, licensePool: request.licensePool,
            migrateArchive: request.migrateArchive, architecture: inspection.architecture ?? "x86_64", discard: true,
            joinBlobBytes: options.joinBlob?.count, start: options.start,
            domainType: options.accelerator == .tcg ? "qemu" : "kvm",
            storagePool: options.pool == DeviceStoragePool.name ? nil : options.pool,
            secureBoot: options.secureBoot)
        // Every rule the offline writer applies, checked now: nothing is created for a bad value.
        _ = try DeployPersonalization.personalization(settings, joinBlob: options.joinBlob)
        if options.joinBlob != nil && !generalized {
            throw LCMError(.usage, "an offline domain join needs a generalized image: only Windows Setup's specialize pass reads the blob",
                           hint: "deploy from a sysprep-generalized image, or join the desktop after its first boot")
        }
        if let pool = request.licensePool { _ = try Licenses.find(db, name: pool) }
        // Opened and checked now (a FIFO or a device is refused here, not halfway through a batch).
        if let archive = request.migrateArchive { _ = try InputFile(archive, what: "user-data archive (tar or zip)") }
        return (name, settings)
    }

    /// "<device>-<user>" (or the device alone), cut to fit the name rules.
    static func defaultDesktopName(device: String, user: String?) -> String {
        let raw = [device, user].compactMap { $0 }.joined(separator: "-")
        let cleaned = String(raw.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" }.prefix(63))
        return cleaned
    }

    /// The desktop name when it is a valid computer name, otherwise an error asking for one.
    static func defaultComputerName(_ desktop: String) throws -> String {
        let candidate = desktop.uppercased()
        if (try? DesktopPersonalization.validateComputerName(candidate)) != nil { return candidate }
        throw LCMError(.usage, "desktop name '\(desktop)' is not a valid Windows computer name",
                       hint: "pass --computer-name (1-15 letters, digits and hyphens)")
    }
}
