import Archive
import Foundation

/// A stand-in for the virtio-win driver media (the ISO Fedora and Red Hat publish), laid out as
/// the real one is, `<driver>/<os>/<arch>/<file>`, for the storage drivers viostor and vioscsi
/// and the network driver NetKVM. Each driver directory holds the driver (`.sys`, a PE32+ or PE32
/// header that `file(1)` recognises, nothing that runs), its INF (a well-formed package
/// description with the real class, class GUID and PCI hardware IDs) and its catalog (`.cat`, an
/// unsigned PKCS #7 shell naming the package's files).
///
/// Every value is a parameter with the real media's value as default; tests compare what a
/// feature finds against `files`, `filePaths` and the drivers' `hardwareIDs`, never literals.
/// The same media always gives the same files, byte for byte. The `.iso` form holds the same
/// files (see `writeISO(to:)` for what differs between two ISO runs).
public struct VirtioDriverMedia: Sendable, Hashable {
    /// The device setup class of a driver package: `Class` and `ClassGuid` in its INF.
    public enum DeviceClass: String, Sendable, Hashable, CaseIterable {
        case scsiAdapter = "SCSIAdapter"
        case net = "Net"

        /// The setup class GUID Windows defines for the class.
        public var classGUID: String {
            switch self {
            case .scsiAdapter: "{4D36E97B-E325-11CE-BFC1-08002BE10318}"
            case .net: "{4D36E972-E325-11CE-BFC1-08002BE10318}"
            }
        }
    }

    /// A processor architecture directory on the media.
    public enum Architecture: String, Sendable, Hashable, CaseIterable {
        case amd64
        case x86

        /// The architecture of the driver binaries in this directory.
        public var binaryArchitecture: WindowsDiskSpec.Architecture { self == .amd64 ? .x86_64 : .i386 }

        /// The platform part of an INF models section decoration (`NTamd64`, `NTx86`).
        var infPlatform: String { self == .amd64 ? "NTamd64" : "NTx86" }
    }

    /// One driver package.
    public struct Driver: Sendable, Hashable {
        /// Top-level directory on the media (`viostor`, `NetKVM`).
        public var directory: String
        /// Base name of the `.sys`, `.inf` and `.cat` files, which is also the service name.
        public var baseName: String
        public var deviceClass: DeviceClass
        /// The PCI hardware IDs the INF's models section lists, in the full
        /// `PCI\VEN_1AF4&DEV_xxxx&SUBSYS_xxxxxxxx&REV_xx` form: the transitional (legacy) device
        /// first, then the modern (virtio 1.0) one.
        public var hardwareIDs: [String]
        /// The device description (`DeviceDesc` string).
        public var deviceDescription: String

        public init(directory: String, baseName: String, deviceClass: DeviceClass, hardwareIDs: [String],
                    deviceDescription: String) {
            self.directory = directory
            self.baseName = baseName
            self.deviceClass = deviceClass
            self.hardwareIDs = hardwareIDs
            self.deviceDescription = deviceDescription
        }

        /// The hardware IDs cut to vendor and device (`VEN_1AF4&DEV_1001`), the form virt-v2v
        /// and `WindowsRegistryContent.virtioBootDrivers` use.
        public var deviceIDs: [String] {
            hardwareIDs.map { id in
                let parts = id.split(separator: "\\").last?.split(separator: "&") ?? []
                return parts.prefix(2).joined(separator: "&")
            }
        }

        public var infName: String { baseName + ".inf" }
        public var sysName: String { baseName + ".sys" }
        public var catalogName: String { baseName + ".cat" }

        /// The virtio block driver.
        public static let viostor = Driver(
            directory: "viostor", baseName: "viostor", deviceClass: .scsiAdapter,
            hardwareIDs: ["PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00", "PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01"],
            deviceDescription: "Red Hat VirtIO SCSI controller")
        /// The virtio SCSI driver.
        public static let vioscsi = Driver(
            directory: "vioscsi", baseName: "vioscsi", deviceClass: .scsiAdapter,
            hardwareIDs: ["PCI\\VEN_1AF4&DEV_1004&SUBSYS_00081AF4&REV_00", "PCI\\VEN_1AF4&DEV_1048&SUBSYS_11001AF4&REV_01"],
            deviceDescription: "Red Hat VirtIO SCSI pass-through controller")
        /// The virtio network driver.
        public static let netKVM = Driver(
            directory: "NetKVM", baseName: "netkvm", deviceClass: .net,
            hardwareIDs: ["PCI\\VEN_1AF4&DEV_1000&SUBSYS_00011AF4&REV_00", "PCI\\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01"],
            deviceDescription: "Red Hat VirtIO Ethernet Adapter")
    }

    /// One Windows release directory (`w10`, `2k22`) and the architectures it has.
    public struct Target: Sendable, Hashable {
        /// Directory name on the media.
        public var directory: String
        /// The INF target OS version (`6.1`, `10.0...22000`: major, minor, product type, suite
        /// mask, build), appended to the platform in the models section decoration.
        public var infVersion: String
        /// The catalog's OS attribute (`2:10.0`).
        public var catalogOSAttribute: String
        public var architectures: [Architecture]

        public init(directory: String, infVersion: String, catalogOSAttribute: String, architectures: [Architecture]) {
            self.directory = directory
            self.infVersion = infVersion
            self.catalogOSAttribute = catalogOSAttribute
            self.architectures = architectures
        }

        public static let windows7 = Target(directory: "w7", infVersion: "6.1", catalogOSAttribute: "2:6.1",
                                            architectures: [.amd64, .x86])
        public static let windows8_1 = Target(directory: "w8.1", infVersion: "6.3", catalogOSAttribute: "2:6.3",
                                              architectures: [.amd64, .x86])
        public static let windows10 = Target(directory: "w10", infVersion: "10.0", catalogOSAttribute: "2:10.0",
                                             architectures: [.amd64, .x86])
        // Windows 11 and the servers since 2019 exist for 64-bit processors only.
        public static let windows11 = Target(directory: "w11", infVersion: "10.0...22000", catalogOSAttribute: "2:10.0",
                                             architectures: [.amd64])
        public static let server2019 = Target(directory: "2k19", infVersion: "10.0...17763", catalogOSAttribute: "2:10.0",
                                              architectures: [.amd64])
        public static let server2022 = Target(directory: "2k22", infVersion: "10.0...20348", catalogOSAttribute: "2:10.0",
                                              architectures: [.amd64])
    }

    /// One file of the media.
    public struct File: Sendable, Hashable {
        /// Path on the media, '/'-separated, relative (`viostor/w10/amd64/viostor.inf`).
        public let path: String
        public let bytes: [UInt8]
    }

    public var drivers: [Driver] = [.viostor, .vioscsi, .netKVM]
    public var targets: [Target] = [.windows7, .windows8_1, .windows10, .windows11, .server2019, .server2022]
    /// INF `DriverVer` date (MM/DD/YYYY) and version; the defaults are those of virtio-win 0.1.248.
    public var driverDate: String = "02/25/2024"
    public var driverVersion: String = "100.94.104.24800"
    /// The INF provider and manufacturer.
    public var provider: String = "Red Hat, Inc."
    /// ISO 9660 volume label of the `.iso` form (the real media's label, normalised).
    public var volumeLabel: String = "VIRTIO_WIN_0_1_248"

    public init() {}

    /// Media built by changing the defaults in `configure`.
    public init(_ configure: (inout VirtioDriverMedia) -> Void) {
        configure(&self)
    }

    // MARK: Contents

    /// The directory of `driver` for `target` and `architecture` (`NetKVM/w11/amd64`).
    public func directory(_ driver: Driver, _ target: Target, _ architecture: Architecture) -> String {
        "\(driver.directory)/\(target.directory)/\(architecture.rawValue)"
    }

    /// Every driver directory on the media, in `files` order.
    public var driverDirectories: [String] {
        drivers.flatMap { driver in
            targets.flatMap { target in target.architectures.map { directory(driver, target, $0) } }
        }
    }

    /// Every file of the media, sorted by path.
    public var files: [File] {
        var result: [File] = []
        for driver in drivers {
            for target in targets {
                for architecture in target.architectures {
                    let dir = directory(driver, target, architecture)
                    result.append(File(path: "\(dir)/\(driver.sysName)", bytes: driverBinary(driver, target, architecture)))
                    result.append(File(path: "\(dir)/\(driver.infName)",
                                       bytes: Array(inf(driver, target, architecture).utf8)))
                    result.append(File(path: "\(dir)/\(driver.catalogName)", bytes: catalog(driver, target)))
                }
            }
        }
        return result.sorted { $0.path < $1.path }
    }

    /// The paths of `files`.
    public var filePaths: [String] { files.map(\.path) }

    /// Every hardware ID some INF on the media lists.
    public var hardwareIDs: [String] { drivers.flatMap(\.hardwareIDs) }

    // MARK: Writing

    /// Writes the media's files below `directory` (created if missing), each with the
    /// modification time `driverDate`, and returns their URLs in `files` order.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        let fm = FileManager.default
        let stamp = infDate
        return try files.map { file in
            let url = directory.appendingPathComponent(file.path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(file.bytes).write(to: url)
            try fm.setAttributes([.modificationDate: stamp], ofItemAtPath: url.path)
            return url
        }
    }

    /// Writes the media as an ISO 9660 image (Joliet names for Windows, Rock Ridge for Linux)
    /// with the project's `ISOImageWriter`. Every file and path is the same on each run, but the
    /// volume and directory timestamps are libarchive's clock at writing time (its ISO writer
    /// takes no fixed creation time), so two runs differ in those bytes; `cachedISO` gives one
    /// image per media content instead.
    public func writeISO(to url: URL) throws {
        let writer = try ISOImageWriter(volumeLabel: volumeLabel)
        try writer.write(files.map { .bytes(Data($0.bytes), at: $0.path) }, to: url)
    }

    /// The ISO of this media from the fixture cache (`virtio-media/<key>.iso`), written on first
    /// use: the same media content always gives the same file, byte for byte. Never write to it.
    public func cachedISO(cacheDirectory: URL = WindowsDiskBuilder.defaultCacheDirectory) throws -> URL {
        let directory = cacheDirectory.appendingPathComponent("virtio-media", isDirectory: true)
        let url = directory.appendingPathComponent("\(contentKey).iso")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // ISOImageWriter publishes the image by renaming it into place, so a concurrent reader
        // sees either no file or a whole one.
        try writeISO(to: url)
        return url
    }

    /// A hash of everything that lands in the ISO: the volume label, every path and every byte.
    public var contentKey: String {
        var material = Data("virtio-media v1\n\(volumeLabel)\n".utf8)
        for file in files {
            material += Data("\(file.path)\n\(file.bytes.count)\n".utf8)
            material += Data(file.bytes)
        }
        return StableHash.hex128(material)
    }

    // MARK: File contents

    /// `driverDate` as a date (noon UTC), for file times.
    private var infDate: Date {
        let parts = driverDate.split(separator: "/").compactMap { Int($0) }
        var components = DateComponents()
        components.timeZone = TimeZone(identifier: "UTC")
        if parts.count == 3 { (components.month, components.day, components.year) = (parts[0], parts[1], parts[2]) }
        components.hour = 12
        return Calendar(identifier: .gregorian).date(from: components) ?? Date(timeIntervalSince1970: 0)
    }

    /// A PE header for the architecture (a native, kernel-mode image) followed by a version
    /// string, so each driver build differs from the others as real ones do.
    func driverBinary(_ driver: Driver, _ target: Target, _ architecture: Architecture) -> [UInt8] {
        var bytes = PEImage.executable(architecture.binaryArchitecture, subsystem: .native)
        bytes += Array("\(driver.sysName) \(driverVersion) \(target.directory) \(architecture.rawValue)\0".utf8)
        // Sections are 512-byte aligned in a real image; keep the file a whole number of them.
        bytes += [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        return bytes
    }

    /// The INF of one driver build. The structure is that of a Windows driver package INF
    /// (Version, Manufacturer, models section per decoration, install and service sections,
    /// Strings); the values are this media's.
    public func inf(_ driver: Driver, _ target: Target, _ architecture: Architecture) -> String {
        let decoration = "\(architecture.infPlatform).\(target.infVersion)"
        let name = driver.baseName
        let install = "\(name)_inst"
        var lines = [
            "; \(driver.infName): \(driver.deviceDescription), \(target.directory) \(architecture.rawValue)",
            "; lcm test fixture: the layout of a virtio-win driver package, not a working driver.",
            "",
            "[Version]",
            "Signature=\"$WINDOWS NT$\"",
            "Class=\(driver.deviceClass.rawValue)",
            "ClassGuid=\(driver.deviceClass.classGUID)",
            "Provider=%VENDOR%",
            "CatalogFile=\(driver.catalogName)",
            "DriverVer=\(driverDate),\(driverVersion)",
            "DriverPackageType=PlugAndPlay",
            "PnpLockdown=1",
            "",
            "[DestinationDirs]",
            "DefaultDestDir=12",
            "",
            "[SourceDisksNames]",
            "1=%DiskName%,,,\"\"",
            "",
            "[SourceDisksFiles]",
            "\(driver.sysName)=1,,",
            "",
            "[Manufacturer]",
            "%VENDOR%=VirtIO,\(decoration)",
            "",
            "[VirtIO.\(decoration)]",
        ]
        lines += driver.hardwareIDs.map { "%\(name).DeviceDesc%=\(install), \($0)" }
        lines += [
            "",
            "[\(install)]",
            "CopyFiles=\(name)_files",
        ]
        if driver.deviceClass == .net {
            // Network adapters declare their NDIS interface: physical, Ethernet, PCI bus.
            lines += ["Characteristics=0x84", "BusType=5", "*IfType=6", "*MediaType=0", "*PhysicalMediaType=0"]
        }
        lines += [
            "",
            "[\(name)_files]",
            "\(driver.sysName),,,2",
            "",
            "[\(install).Services]",
            "AddService=\(name),0x00000002,\(name)_service",
            "",
            "[\(name)_service]",
            "DisplayName=%\(name).ServiceDesc%",
            "ServiceType=1",
        ]
        // Storage drivers start with the kernel (the system disk needs them); NDIS loads the rest.
        if driver.deviceClass == .scsiAdapter {
            lines += ["StartType=0", "ErrorControl=1", "LoadOrderGroup=SCSI miniport"]
        } else {
            lines += ["StartType=3", "ErrorControl=1", "LoadOrderGroup=NDIS"]
        }
        lines += [
            "ServiceBinary=%12%\\\(driver.sysName)",
            "",
            "[Strings]",
            "VENDOR=\"\(provider)\"",
            "DiskName=\"\(driver.deviceDescription) Installation Disk\"",
            "\(name).DeviceDesc=\"\(driver.deviceDescription)\"",
            "\(name).ServiceDesc=\"\(driver.deviceDescription) Service\"",
        ]
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// The catalog of one driver build: a DER-encoded PKCS #7 SignedData whose content is a
    /// Microsoft certificate trust list naming the package's files and the OS attribute. It has
    /// no signer, so nothing can verify it, as nothing should.
    func catalog(_ driver: Driver, _ target: Target) -> [UInt8] {
        func utf16(_ text: String) -> [UInt8] { Array(text.utf16).flatMap { le($0) } + [0, 0] }
        let members = [driver.infName, driver.sysName].map { name in
            DER.sequence(DER.octetString(utf16(name))
                         + DER.set(DER.sequence(DER.oid("1.3.6.1.4.1.311.12.2.1")
                                                + DER.octetString(utf16("OSAttr=\(target.catalogOSAttribute)")))))
        }
        let trustList = DER.sequence(
            DER.sequence(DER.oid("1.3.6.1.4.1.311.12.1.1"))                         // catalog list
            + DER.octetString(Array("\(driver.baseName) \(driverVersion)".utf8))   // list identifier
            + DER.utcTime("240101000000Z")
            + DER.sequence(DER.oid("1.3.6.1.4.1.311.12.1.2") + DER.null)            // member list
            + DER.sequence(Array(members.joined())))
        let signedData = DER.sequence(
            DER.integer(1)
            + DER.set(DER.sequence(DER.oid("2.16.840.1.101.3.4.2.1") + DER.null))  // SHA-256
            + DER.sequence(DER.oid("1.3.6.1.4.1.311.10.1") + DER.explicit(0, trustList))
            + DER.set([]))                                                          // no signers
        return DER.sequence(DER.oid("1.2.840.113549.1.7.2") + DER.explicit(0, signedData))
    }
}

/// Just enough DER (X.690) to write a catalog.
enum DER {
    static func element(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            length = []
            var count = content.count
            while count > 0 { length.insert(UInt8(count & 0xFF), at: 0); count >>= 8 }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + content
    }

    static func sequence(_ content: [UInt8]) -> [UInt8] { element(0x30, content) }
    static func set(_ content: [UInt8]) -> [UInt8] { element(0x31, content) }
    static func octetString(_ content: [UInt8]) -> [UInt8] { element(0x04, content) }
    static func explicit(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { element(0xA0 | number, content) }
    static func utcTime(_ text: String) -> [UInt8] { element(0x17, Array(text.utf8)) }
    static let null: [UInt8] = [0x05, 0x00]

    /// A small non-negative INTEGER.
    static func integer(_ value: UInt8) -> [UInt8] {
        element(0x02, value < 0x80 ? [value] : [0, value])
    }

    static func oid(_ dotted: String) -> [UInt8] {
        let arcs = dotted.split(separator: ".").compactMap { UInt64($0) }
        var content: [UInt8] = [UInt8(arcs[0] * 40 + arcs[1])]
        for arc in arcs.dropFirst(2) {
            // Base 128, most significant group first, high bit set on all but the last.
            var groups: [UInt8] = [UInt8(arc & 0x7F)]
            var rest = arc >> 7
            while rest > 0 { groups.insert(UInt8(rest & 0x7F) | 0x80, at: 0); rest >>= 7 }
            content += groups
        }
        return element(0x06, content)
    }
}
