import Foundation
import LCMKit

/// Everything that describes one Windows-shaped test disk. Every field has a default, so a test
/// names only what it cares about, and every value that lands in the image comes from here: tests
/// compare what inspection reports against the spec, never against literals of their own.
///
/// The defaults describe a 64-bit Windows 11 Pro 23H2 client on a GPT disk in qcow2 (Windows 11
/// still says "Windows 10" in ProductName; build 22000 and later is Windows 11).
public struct WindowsDiskSpec: Codable, Hashable, Sendable {
    /// Image file format.
    public enum Format: String, Codable, Sendable, CaseIterable {
        case qcow2
        case raw

        public var fileExtension: String { self == .qcow2 ? "qcow2" : "img" }
    }

    /// Partition table, with the layout Windows Setup creates for it: GPT = EFI system
    /// partition (FAT), Microsoft reserved, Windows (NTFS); MBR = System Reserved (NTFS, active),
    /// Windows (NTFS).
    public enum Partitioning: String, Codable, Sendable, CaseIterable {
        case gpt
        case mbr
    }

    /// The architecture of the system, from the PE header of `System32\cmd.exe`.
    public enum Architecture: String, Codable, Sendable, CaseIterable {
        case x86_64
        case i386
    }

    /// A failure a later feature must detect, built in on purpose.
    public enum Fault: String, Codable, Sendable, CaseIterable {
        /// Windows hibernated: `\hiberfil.sys` starts with "HIBR"; ntfs-3g refuses to mount the
        /// volume read-write.
        case hibernated
        /// Windows shut down with Fast Startup (a hybrid hibernation): the same hiberfil.sys
        /// signature, and `HiberbootEnabled` = 1 in the SYSTEM hive.
        case fastStartup
        /// A qcow2 file cut to half its length (qcow2 only).
        case truncatedImage
        /// The SOFTWARE hive damaged (bad base block checksum, broken first hive bin) so that
        /// hivex refuses to open it.
        case corruptSoftwareHive
        /// The SYSTEM hive damaged the same way.
        case corruptSystemHive
        /// The same partitions and an NTFS volume with user data, but no `\Windows`.
        case noWindows
        /// The Windows volume (C:) is BitLocker-encrypted: its header carries the BitLocker
        /// signature (libguestfs `vfs_type` says "BitLocker"), the rest is unreadable, so offline
        /// inspection finds no Windows. The boot partitions stay as they are; the fields that
        /// describe the installation have no visible effect. See `BitLockerVolume`.
        case bitLocker
        /// A normal Windows disk that still has the answer file Setup ran with, passwords and
        /// product key in plain text, at `WindowsDiskSpec.leftoverAnswerFilePath`; the secrets are
        /// `answerFileSecrets`.
        case leftoverAnswerFile
        /// A generalized disk whose answer file at `leftoverAnswerFilePath` declares an external
        /// entity naming a host file (`UnattendAnswerFile.entityTarget`) and uses it in the
        /// specialize pass: what a crafted image from outside carries to copy host files into
        /// every desktop (XXE).
        case entityAnswerFile
    }

    /// An installed application, as an `Uninstall` key.
    public struct Application: Codable, Hashable, Sendable {
        /// The `Uninstall` subkey name (a product code GUID for MSI installs).
        public var key: String
        public var displayName: String
        public var version: String
        public var publisher: String
        /// Install directory below `C:\`, e.g. `Program Files\7-Zip`; created on the disk.
        public var installLocation: String
        /// A 32-bit application on 64-bit Windows (under `WOW6432Node`); ignored on a 32-bit
        /// system, where every application is native.
        public var wow64: Bool

        public init(key: String, displayName: String, version: String, publisher: String,
                    installLocation: String = "", wow64: Bool = false) {
            self.key = key
            self.displayName = displayName
            self.version = version
            self.publisher = publisher
            self.installLocation = installLocation
            self.wow64 = wow64
        }
    }

    /// A Component Based Servicing package state (`CurrentState` of a package key).
    public enum ServicingState: String, Codable, Sendable, CaseIterable {
        case absent, uninstallPending, resolving, resolved, staging, staged, superseded
        case installPending, partiallyInstalled, installed, permanent

        /// The value Windows stores.
        public var code: UInt32 {
            switch self {
            case .absent: 0x00
            case .uninstallPending: 0x05
            case .resolving: 0x10
            case .resolved: 0x20
            case .staging: 0x30
            case .staged: 0x40
            case .superseded: 0x50
            case .installPending: 0x60
            case .partiallyInstalled: 0x65
            case .installed: 0x70
            case .permanent: 0x80
            }
        }
    }

    /// A servicing package (an update, a feature) under
    /// `SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages`.
    public struct ServicingPackage: Codable, Hashable, Sendable {
        /// e.g. `Package_for_RollupFix~31bf3856ad364e35~amd64~~22621.3880.1.6`.
        public var name: String
        public var state: ServicingState
        /// The KB article, e.g. `KB5040442`; empty for none.
        public var kb: String

        public init(name: String, state: ServicingState, kb: String = "") {
            self.name = name
            self.state = state
            self.kb = kb
        }
    }

    public var format: Format = .qcow2
    public var partitioning: Partitioning = .gpt
    /// Virtual disk size in bytes (sparse: costs nothing until written).
    public var virtualSize: Int64 = 8 << 30
    public var architecture: Architecture = .x86_64

    // SOFTWARE\Microsoft\Windows NT\CurrentVersion
    public var productName: String = "Windows 10 Pro"
    public var editionID: String = "Professional"
    /// `Client` or `Server` (libguestfs reports it as the product variant).
    public var installationType: String = "Client"
    public var majorVersion: Int = 10
    public var minorVersion: Int = 0
    public var buildNumber: Int = 22631
    /// Update build revision: the patch level within a build.
    public var ubr: Int = 3880
    public var displayVersion: String = "23H2"
    public var registeredOwner: String = "lcm"

    // SYSTEM
    /// NetBIOS computer name (at most 15 characters), under
    /// `<control set>\Control\ComputerName\ComputerName`.
    public var computerName: String = "LCM-DESKTOP"
    /// TCP/IP host name (`<control set>\Services\Tcpip\Parameters\Hostname`, what libguestfs
    /// reports); the computer name when nil, as Windows sets it.
    public var hostname: String?
    /// The control set `Select\Current` names (`ControlSet00N`).
    public var controlSet: Int = 1

    /// Sysprepped: `Setup\State\ImageState` says the image is generalized and waits for OOBE.
    public var generalized: Bool = false
    public var applications: [Application] = WindowsDiskSpec.defaultApplications
    public var servicingPackages: [ServicingPackage] = WindowsDiskSpec.defaultServicingPackages
    /// The viostor and vioscsi boot drivers installed the way virt-v2v does it (services,
    /// driver files, DriverDatabase entries, DevicePath).
    public var virtioDrivers: Bool = false
    /// Fill SOFTWARE to at least 60 MiB and SYSTEM to at least 15 MiB with plausible keys,
    /// so benchmarks measure hivex on hives the size of real ones.
    public var realisticSize: Bool = false
    /// A failure built in on purpose; nil for a healthy disk.
    public var fault: Fault?
    /// The EFI system partition carries a stand-in boot program (GPT only): the disk boots under
    /// OVMF, records the boot, runs the boot-time queue like lcm's runner and powers off.
    public var bootable: Bool = false
    /// Items staged for the boot-time runner (see `BootRunnerContract`).
    public var queue: [StagedItem] = []

    /// MBR disk signature; derived from the rest of the spec when nil.
    public var diskSignature: UInt32?
    /// GPT unique GUID of the Windows partition; derived from the rest of the spec when nil.
    public var windowsPartitionGUID: String?

    public init() {}

    /// A spec built by changing the defaults in `configure`.
    public init(_ configure: (inout WindowsDiskSpec) -> Void) {
        configure(&self)
    }

    public static let defaultApplications: [Application] = [
        Application(key: "7-Zip", displayName: "7-Zip 23.01 (x64)", version: "23.01",
                    publisher: "Igor Pavlov", installLocation: "Program Files\\7-Zip"),
        Application(key: "{AC76BA86-7AD7-1033-7B44-AC0F074E4100}", displayName: "Adobe Acrobat Reader DC",
                    version: "24.002.20933", publisher: "Adobe Systems Incorporated",
                    installLocation: "Program Files (x86)\\Adobe\\Acrobat Reader DC", wow64: true),
        Application(key: "Mozilla Firefox 128.0 (x64 en-US)", displayName: "Mozilla Firefox (x64 en-US)",
                    version: "128.0", publisher: "Mozilla", installLocation: "Program Files\\Mozilla Firefox"),
    ]

    public static let defaultServicingPackages: [ServicingPackage] = [
        ServicingPackage(name: "Package_for_RollupFix~31bf3856ad364e35~amd64~~22621.3880.1.6",
                         state: .installed, kb: "KB5040442"),
        ServicingPackage(name: "Package_for_ServicingStack_3871~31bf3856ad364e35~amd64~~22621.3871.1.0",
                         state: .installed, kb: "KB5039895"),
        ServicingPackage(name: "Package_for_RollupFix~31bf3856ad364e35~amd64~~22621.3737.1.4",
                         state: .superseded, kb: "KB5039212"),
        ServicingPackage(name: "Package_for_DotNetRollup_481~31bf3856ad364e35~amd64~~10.0.9256.1",
                         state: .staged, kb: "KB5039895"),
    ]

    // MARK: Derived values

    /// The TCP/IP host name actually used.
    public var resolvedHostname: String { hostname ?? computerName }

    /// `ControlSet001` etc.
    public var controlSetName: String { String(format: "ControlSet%03d", controlSet) }

    /// `Setup\State\ImageState` for this spec.
    public var imageState: String {
        generalized ? "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE" : "IMAGE_STATE_COMPLETE"
    }

    /// True when the disk holds a Windows installation (every spec but the no-Windows fault;
    /// on a BitLocker disk it is there, but offline tools cannot read it).
    public var hasWindows: Bool { fault != .noWindows }

    /// True when the Windows volume is BitLocker-encrypted (the `bitLocker` fault).
    public var windowsVolumeIsEncrypted: Bool { fault == .bitLocker }

    /// The partitions, in table order.
    public var layout: DiskLayout { DiskLayout(spec: self) }

    /// The MBR disk signature actually used.
    public var resolvedDiskSignature: UInt32 {
        if let diskSignature { return diskSignature }
        let derived = UInt32(truncatingIfNeeded: identitySeed)
        return derived == 0 ? 0x4C43_4D31 : derived
    }

    /// The GPT unique GUID of the Windows partition actually used (upper case).
    public var resolvedWindowsPartitionGUID: String {
        windowsPartitionGUID?.uppercased() ?? DiskLayout.derivedGUID(seed: identitySeed, salt: 3)
    }

    /// A hash of every field but the explicit identities, so two different specs get different
    /// disk signatures and partition GUIDs (their disks can share one appliance).
    var identitySeed: UInt64 {
        var copy = self
        copy.diskSignature = nil
        copy.windowsPartitionGUID = nil
        return StableHash.fnv1a64(copy.canonicalJSON)
    }

    /// The spec as JSON with sorted keys: the same spec always gives the same bytes.
    public var canonicalJSON: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding a struct of plain values cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    /// Checks combinations the builder cannot honour.
    public func validate() throws {
        func fail(_ message: String) -> WindowsDiskError { WindowsDiskError.invalidSpec(message) }
        if bootable && partitioning != .gpt { throw fail("a bootable disk needs GPT (it boots under OVMF)") }
        if fault == .truncatedImage && format != .qcow2 { throw fail("the truncated-image fault applies to qcow2 only") }
        // Nothing can be written to an encrypted volume offline: no stand-in runner, no queue.
        if fault == .bitLocker && (bootable || !queue.isEmpty) {
            throw fail("a BitLocker-encrypted disk can be neither bootable nor have staged items")
        }
        if virtualSize < 512 << 20 || virtualSize % (1 << 20) != 0 {
            throw fail("virtual size must be a whole number of MiB, at least 512 MiB")
        }
        if computerName.isEmpty || computerName.count > 15 { throw fail("computer name must have 1 to 15 characters") }
        if let hostname, hostname.isEmpty || hostname.count > 63 { throw fail("host name must have 1 to 63 characters") }
        if !(1...999).contains(controlSet) { throw fail("control set must be between 1 and 999") }
        if let guid = windowsPartitionGUID, UUID(uuidString: guid) == nil { throw fail("invalid partition GUID \(guid)") }
        if let bad = queue.first(where: { !$0.isValid }) {
            throw fail("staged item \(bad.order) \(bad.name.debugDescription): order 0-999, name of letters, digits, . _ -")
        }
        let names = queue.map(\.fileName)
        if Set(names).count != names.count { throw fail("staged items must have distinct order/name/kind") }
    }
}

/// Failures of the Windows disk builder.
public enum WindowsDiskError: Error, LocalizedError, Equatable {
    case invalidSpec(String)
    case toolFailed(tool: String, status: Int32, output: String)
    case toolMissing(String)
    case buildFailed(String)

    public var errorDescription: String? {
        switch self {
        case .invalidSpec(let message): "invalid Windows disk spec: \(message)"
        case .toolFailed(let tool, let status, let output): "\(tool) exited with status \(status): \(output)"
        case .toolMissing(let tool): "\(tool) not found (run scripts/setup)"
        case .buildFailed(let message): "building the Windows disk failed: \(message)"
        }
    }
}

/// A small non-cryptographic hash, stable across runs and platforms (Swift's `Hasher` is
/// seeded per process), for cache keys and derived identifiers.
enum StableHash {
    static func fnv1a64(_ data: Data, seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// 128 bits as 32 hex digits: two FNV-1a passes with different offsets.
    static func hex128(_ data: Data) -> String {
        let a = fnv1a64(data)
        let b = fnv1a64(data, seed: 0x6C62_272E_07BB_0142)
        return String(format: "%016llx%016llx", a, b)
    }
}

// Decoding fills in the defaults for missing fields, so a JSON spec names only what differs.
extension WindowsDiskSpec {
    enum CodingKeys: String, CodingKey {
        case format, partitioning, virtualSize, architecture
        case productName, editionID, installationType, majorVersion, minorVersion, buildNumber, ubr
        case displayVersion, registeredOwner, computerName, hostname, controlSet, generalized, applications
        case servicingPackages, virtioDrivers, realisticSize, fault, bootable, queue
        case diskSignature, windowsPartitionGUID
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func take<T: Decodable>(_ key: CodingKeys, _ current: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? current
        }
        format = try take(.format, format)
        partitioning = try take(.partitioning, partitioning)
        virtualSize = try take(.virtualSize, virtualSize)
        architecture = try take(.architecture, architecture)
        productName = try take(.productName, productName)
        editionID = try take(.editionID, editionID)
        installationType = try take(.installationType, installationType)
        majorVersion = try take(.majorVersion, majorVersion)
        minorVersion = try take(.minorVersion, minorVersion)
        buildNumber = try take(.buildNumber, buildNumber)
        ubr = try take(.ubr, ubr)
        displayVersion = try take(.displayVersion, displayVersion)
        registeredOwner = try take(.registeredOwner, registeredOwner)
        computerName = try take(.computerName, computerName)
        hostname = try c.decodeIfPresent(String.self, forKey: .hostname)
        controlSet = try take(.controlSet, controlSet)
        generalized = try take(.generalized, generalized)
        applications = try take(.applications, applications)
        servicingPackages = try take(.servicingPackages, servicingPackages)
        virtioDrivers = try take(.virtioDrivers, virtioDrivers)
        realisticSize = try take(.realisticSize, realisticSize)
        fault = try c.decodeIfPresent(Fault.self, forKey: .fault)
        bootable = try take(.bootable, bootable)
        queue = try take(.queue, queue)
        diskSignature = try c.decodeIfPresent(UInt32.self, forKey: .diskSignature)
        windowsPartitionGUID = try c.decodeIfPresent(String.self, forKey: .windowsPartitionGUID)
    }
}

// MARK: The leftover answer file

/// The secrets in the answer file the `leftoverAnswerFile` fault leaves on the disk: what a
/// scanner must find (and a report must never print). Derived from the spec, so two disks never
/// share them and tests compare against these values, never against literals.
public struct AnswerFileSecrets: Sendable, Hashable {
    /// `UserAccounts\AdministratorPassword\Value`, with `PlainText` true.
    public let administratorPassword: String
    /// `AutoLogon\Username`.
    public let autoLogonUsername: String
    /// `AutoLogon\Password\Value`, with `PlainText` true.
    public let autoLogonPassword: String
    /// The product key, in `UserData\ProductKey\Key` (windowsPE) and `ProductKey` (specialize).
    /// Shaped like a Windows key but made up: it activates nothing.
    public let productKey: String
}

extension WindowsDiskSpec {
    /// Where the `leftoverAnswerFile` fault puts the answer file (a path on the Windows volume).
    public static let leftoverAnswerFilePath = "/Windows/Panther/unattend.xml"

    /// Where Windows Setup and sysprep leave answer files behind; a scanner must look at all of
    /// them (the fault fills only the first).
    public static let answerFileLocations = [
        "/Windows/Panther/unattend.xml",
        "/Windows/System32/Sysprep/unattend.xml",
    ]

    /// The secrets of this disk's leftover answer file.
    public var answerFileSecrets: AnswerFileSecrets {
        var rng = SplitMix64(seed: identitySeed ^ 0xA115_0E55)
        // The characters Windows product keys use (no vowels, no look-alikes).
        let keyAlphabet = Array("BCDFGHJKMPQRTVWXY2346789")
        let groups = (0..<5).map { _ in
            String((0..<5).map { _ in keyAlphabet[Int(rng.next() % UInt64(keyAlphabet.count))] })
        }
        func token() -> String { String(format: "%08x", UInt32(truncatingIfNeeded: rng.next())) }
        return AnswerFileSecrets(administratorPassword: "Adm1n!\(token())", autoLogonUsername: "lcmsetup",
                                 autoLogonPassword: "AutoL0gon!\(token())", productKey: groups.joined(separator: "-"))
    }
}
