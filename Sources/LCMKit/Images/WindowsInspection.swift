import Foundation

/// What lcm knows about a disk image without booting it: read offline from its partitions, its
/// registry hives and a few files. One plain record that every image operation reads (import,
/// check, drivers, diff); nothing re-inspects.
public struct WindowsInspection: Codable, Sendable, Equatable {
    /// True when a Windows system root with both registry hives was found.
    public var isWindows: Bool = false
    /// "Windows 11" for a client with build >= 22000 even though ProductName says "Windows 10".
    public var osName: String?
    public var productName: String?
    public var editionID: String?
    /// "Client" or "Server".
    public var installationType: String?
    public var majorVersion: Int?
    public var minorVersion: Int?
    public var buildNumber: Int?
    /// Update build revision: the fourth part of the version (10.0.22631.**3880**).
    public var ubr: Int?
    /// "23H2" and the like (ReleaseId on older builds).
    public var displayVersion: String?
    /// "x86_64" or "i386" (from the PE header of System32\cmd.exe, as libguestfs decides it).
    public var architecture: String?
    /// TCP/IP host name of the current control set.
    public var hostname: String?
    /// NetBIOS computer name of the current control set.
    public var computerName: String?
    /// The control set `Select\Current` names, e.g. "ControlSet001".
    public var controlSet: String?
    /// The appliance device holding the Windows volume, e.g. "/dev/sda3".
    public var windowsPartition: String?
    public var systemRoot: String?
    /// Drive letters from `MountedDevices` that map to partitions of this disk.
    public var driveLetters: [DriveLetter] = []
    public var applications: [InstalledApplication] = []
    public var servicing = ServicingState()
    public var virtio = VirtioDriverState()
    public var generalization = GeneralizationState()
    public var hibernation = HibernationState()
    /// Partitions whose filesystem is BitLocker-encrypted (their content is unreadable offline).
    public var bitLockerPartitions: [String] = []
    /// Answer files left on the volume, and which kinds of secret each holds.
    public var answerFiles: [AnswerFile] = []
    /// lcm's own boot-time queue (offline patches staged for the next boot) and its results log.
    public var lcmQueue = LCMQueueState()
    /// Partitions and what they hold, in device order.
    public var partitions: [PartitionSummary] = []

    public init() {}

    /// "10.0.22631.3880" when the parts are known.
    public var version: String? {
        guard let majorVersion, let minorVersion else { return nil }
        var text = "\(majorVersion).\(minorVersion)"
        if let buildNumber { text += ".\(buildNumber)" }
        if buildNumber != nil, let ubr { text += ".\(ubr)" }
        return text
    }

    /// The marketing name: Windows 11 client builds still carry "Windows 10" in ProductName.
    static func osName(productName: String?, installationType: String?, majorVersion: Int?, buildNumber: Int?) -> String? {
        guard let productName else { return nil }
        let isClient = (installationType ?? "Client").caseInsensitiveCompare("Client") == .orderedSame
        if isClient, majorVersion == 10, let buildNumber, buildNumber >= 22000 { return "Windows 11" }
        if productName.hasPrefix("Windows 10") { return "Windows 10" }
        if productName.hasPrefix("Windows 11") { return "Windows 11" }
        return productName
    }
}

public struct DriveLetter: Codable, Sendable, Equatable {
    /// "C"
    public var letter: String
    /// Appliance device of the partition, e.g. "/dev/sda3".
    public var partition: String
}

public struct InstalledApplication: Codable, Sendable, Equatable {
    /// The Uninstall subkey name (a product code for MSI installs).
    public var key: String
    public var displayName: String?
    public var version: String?
    public var publisher: String?
    public var installLocation: String?
    /// Registered under WOW6432Node (a 32-bit application on 64-bit Windows).
    public var is32BitOn64: Bool
}

/// Component Based Servicing: installed updates and what waits for a reboot.
public struct ServicingState: Codable, Sendable, Equatable {
    /// Every package with its state name ("Installed", "Staged", "InstallPending", ...).
    public var packages: [ServicingPackage] = []
    /// The KB numbers of installed (or permanent) packages, sorted, without duplicates.
    public var installedUpdates: [String] = []
    /// Packages waiting for a reboot to install or uninstall.
    public var pendingPackages: [String] = []
    /// CBS's own `RebootPending` key exists.
    public var rebootPending: Bool = false
}

public struct ServicingPackage: Codable, Sendable, Equatable {
    public var name: String
    public var state: String
    public var stateCode: UInt32?
}

/// Whether the image boots on virtio hardware (storage) and has a virtio network driver.
public struct VirtioDriverState: Codable, Sendable, Equatable {
    /// Storage driver services registered as boot drivers (Start = 0) with their .sys present.
    public var storageDrivers: [String] = []
    /// Network driver services present (NetKVM).
    public var networkDrivers: [String] = []
    /// DevicePath includes lcm's / virt-v2v's VirtIO driver directory.
    public var devicePathIncludesDrivers: Bool = false

    public var hasStorageDriver: Bool { !storageDrivers.isEmpty }
    public var hasNetworkDriver: Bool { !networkDrivers.isEmpty }
}

public struct GeneralizationState: Codable, Sendable, Equatable {
    /// `SOFTWARE\Microsoft\Windows\CurrentVersion\Setup\State` `ImageState`.
    public var imageState: String?
    /// Sysprep /generalize ran: the next boot creates a new SID, MachineGuid and so on.
    public var generalized: Bool {
        guard let imageState else { return false }
        // SPECIALIZE_RESEAL (sysprep /oobe without /generalize) keeps the machine's identity.
        return imageState.hasPrefix("IMAGE_STATE_GENERALIZE_RESEAL")
    }
}

public struct HibernationState: Codable, Sendable, Equatable {
    /// The first four bytes of `\hiberfil.sys` when the file exists ("HIBR", "hibr", "WAKE", ...).
    public var hiberfilSignature: String?
    /// `HiberbootEnabled` = 1: Windows shuts down into a hybrid hibernation (Fast Startup).
    public var fastStartupEnabled: Bool = false
    /// ntfs-3g would mount the Windows volume read-write (false for a hibernated volume).
    public var writableOffline: Bool = true

    /// The volume holds a hibernated (or Fast Startup) session.
    public var hibernated: Bool {
        guard let signature = hiberfilSignature?.uppercased() else { return false }
        return signature == "HIBR" || signature == "RSTR"
    }
}

public struct AnswerFile: Codable, Sendable, Equatable {
    /// Path on the Windows volume, e.g. "/Windows/Panther/unattend.xml".
    public var path: String
    /// Kinds of secret found: "password", "product key", "domain join credentials", "domain join blob".
    public var secrets: [String]
    /// It declares a document type or entities, which lcm refuses to parse (`SafeXML`); nil in
    /// inspections recorded before lcm looked.
    public var declaresEntities: Bool?
}

public struct LCMQueueState: Codable, Sendable, Equatable {
    /// Items listed in the queue manifest whose files are still there (not yet run).
    public var pendingItems: Int = 0
    /// Their file names, e.g. "001-virtio-drivers.cmd".
    public var pendingItemNames: [String] = []
    /// Result lines in the runner log.
    public var results: Int = 0
    /// Result lines whose exit code means failure.
    public var failedResults: Int = 0

    public init() {}

    // Inspections are stored in the catalog: a field added later must decode from older rows.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pendingItems = try c.decodeIfPresent(Int.self, forKey: .pendingItems) ?? 0
        pendingItemNames = try c.decodeIfPresent([String].self, forKey: .pendingItemNames) ?? []
        results = try c.decodeIfPresent(Int.self, forKey: .results) ?? 0
        failedResults = try c.decodeIfPresent(Int.self, forKey: .failedResults) ?? 0
    }
}

public struct PartitionSummary: Codable, Sendable, Equatable {
    public var device: String
    public var filesystem: String
    public var sizeBytes: Int64?
}
