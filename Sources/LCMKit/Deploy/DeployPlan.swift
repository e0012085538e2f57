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
    /// UEFI Secure Boot with Microsoft's keys enrolled; a device that cannot offer it is refused
    /// unless this is turned off (`--no-secure-boot`, recorded).
    public var secureBoot = true
    public var defaultTimeZone = "UTC"
    /// The `djoin /provision` blob for offline domain join; never stored, logged or passed on a command line.
    public var joinBlob: OfflineDomainJoinBlob?

    public init() {}
}

/// The rule for desktop names (`NameRule.desktop`): they become libvirt domain and volume names,
/// lock file names and a default computer name. Deploy checks every name it is given or makes with it.
public enum DesktopNames {
    public static func validate(_ name: String) throws { try NameRule.desktop.validate(name) }
}

/// Turns a request into settings, checking everything that can be checked before anything changes.
public enum DeployPlanner {
    public static func plan(_ request: DeployRequest, options: DeployOptions, accelerator: Accelerator,
                            db: Database) throws -> (name: String, settings: DesktopSettings) {
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
        let hardware = DesktopDomain.hardware(for: inspection.virtio)
        let settings = DesktopSettings(
            imageReference: entry.reference, imageVersionID: versionID, imagePath: entry.path, imageSHA256: sha256,
            uri: uri, deviceTag: device.assetTag, user: request.user,
            vcpus: request.vcpus ?? sizing.vcpus, memoryBytes: request.memoryBytes ?? sizing.memoryBytes,
            osDiskBytes: osDisk, dataDiskBytes: request.dataDiskBytes ?? sizing.dataDiskBytes,
            encrypted: options.encrypt, allowUngeneralized: !generalized && options.allowUngeneralized, generalized: generalized,
            storageBus: hardware.bus, networkModel: hardware.network, network: options.network,
            computerName: computerName, owner: owner, organization: request.organization,
            timeZone: request.timeZone ?? options.defaultTimeZone, licensePool: request.licensePool,
            migrateArchive: request.migrateArchive, architecture: inspection.architecture ?? "x86_64", discard: true,
            joinBlobBytes: options.joinBlob?.count, start: options.start,
            // `auto` is planned as KVM (a device with working KVM is the norm; TCG is asked for by name).
            domainType: accelerator == .tcg ? .qemu : .kvm,
            storagePool: options.pool == DeviceStoragePool.name ? nil : options.pool,
            secureBoot: options.secureBoot)
        // Every rule the offline writer applies, checked now: nothing is created for a bad value.
        _ = try DeployPersonalization.personalization(settings, joinBlob: options.joinBlob)
        try DesktopPersonalization.checkJoin(options.joinBlob != nil, generalized: generalized)
        if let pool = request.licensePool { _ = try Licenses.find(db, name: pool) }
        // Opened and checked now (a FIFO or a device is refused here, not halfway through a batch).
        if let archive = request.migrateArchive { _ = try InputFile(archive, what: "user-data archive (tar or zip)") }
        return (name, settings)
    }

    /// "<device>-<user>" (or the device alone), made of what the desktop name rule allows and cut
    /// to its length; `DesktopNames.validate` then checks it like any other name.
    static func defaultDesktopName(device: String, user: String?) -> String {
        let rule = NameRule.desktop
        let raw = [device, user].compactMap { $0 }.joined(separator: "-")
        func allowed(_ character: Character) -> Bool {
            guard let byte = character.asciiValue else { return false }
            return character.isLetter || character.isNumber || rule.punctuation.contains(byte)
        }
        return String(raw.map { allowed($0) ? $0 : "-" }.prefix(rule.maxLength))
    }

    /// The desktop name when it is a valid computer name, otherwise an error asking for one.
    static func defaultComputerName(_ desktop: String) throws -> String {
        let candidate = desktop.uppercased()
        if (try? DesktopPersonalization.validateComputerName(candidate)) != nil { return candidate }
        throw LCMError(.usage, "desktop name '\(desktop)' is not a valid Windows computer name",
                       hint: "pass --computer-name (1-15 letters, digits and hyphens)")
    }
}
