import Foundation
import Guestfs

// The offline operations a personalization is made of (`DesktopPersonalizer.apply` runs them
// over one `OfflineDisk`). Each checks what it needs from the catalog's record or from facts
// read once per image, and writes only when every one of them verified.

private typealias Paths = DesktopPersonalizer.Paths

/// A join blob needs Windows Setup's specialize pass, which runs only on a generalized image. The
/// blob itself is written by `AnswerFileOperation`.
final class DomainJoinOperation: OfflineOperation {
    let blobBytes: Int
    let generalized: Bool

    init(_ blob: OfflineDomainJoinBlob, generalized: Bool) {
        blobBytes = blob.count
        self.generalized = generalized
    }

    func verify(expected: WindowsInspection?) throws {
        try DesktopPersonalization.checkJoin(true, generalized: generalized)
    }
}

/// The specialize-pass answer file of a generalized image (computer name, owner, organization,
/// time zone, join blob), merged into the image's own when it has one; and, when the answer files
/// hold secrets, the boot queue item that removes every copy once Setup is done
/// (BootRunnerContract, "Answer files"). Also checks that the image's ImageState agrees with
/// `generalized`: Setup reads the file only on a generalized image.
final class AnswerFileOperation: OfflineOperation {
    let personalization: DesktopPersonalization
    let generalized: Bool
    let architecture: UnattendArchitecture
    private(set) var file: (path: String, bytes: [UInt8], merged: Bool)?
    /// Kinds of secret in the file written and in those the image carried.
    private(set) var secrets: [String] = []
    /// The boot queue item that removes the answer files, once applied.
    private(set) var cleanup: String?

    init(_ personalization: DesktopPersonalization, generalized: Bool, architecture: UnattendArchitecture) {
        self.personalization = personalization
        self.generalized = generalized
        self.architecture = architecture
    }

    deinit {
        if file != nil { DiskPassphrase.wipe(&file!.bytes) }
    }

    var removesAnswerFiles: Bool { !secrets.isEmpty }

    func verify(on disk: OfflineDisk) throws {
        if generalized, let unattendFileOverride = try disk.systemFacts().unattendFileOverride {
            throw LCMError(.conflict, "the image names its own answer file (SYSTEM\\Setup\\UnattendFile = \(unattendFileOverride)); Windows Setup would ignore lcm's",
                           hint: "remove that value from the golden image before generalizing it")
        }
        if generalized {
            file = try DesktopPersonalizer.specializeAnswerFile(personalization, disk: disk, architecture: architecture)
        }
        // Windows leaves the answer file, secrets and all, in clear after specialize, and an image
        // may carry answer files of its own.
        let written = file.map { AnswerFileScanner.secrets(in: String(decoding: $0.bytes, as: UTF8.self)) } ?? []
        secrets = Array(Set(try disk.leftoverAnswerFileSecrets() + written)).sorted()
        if let imageState = try disk.software(timeZone: personalization.timeZone).imageState,
           (imageState != "IMAGE_STATE_COMPLETE") != generalized {
            throw LCMError(.conflict, "the image's ImageState is \(imageState), which contradicts generalized = \(generalized)",
                           hint: "pass what `lcm image inspect` reports for the image")
        }
    }

    var hives: Set<RegFile.Hive> { removesAnswerFiles ? [.software] : [] }

    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        guard let software = editors.software else { return }
        try StartupScriptRunner.registerState(software, systemRoot: disk.layout.systemRoot)
    }

    func apply(to disk: OfflineDisk) throws {
        let g = disk.session
        if let file {
            try g.mkdirP(String(file.path[..<file.path.lastIndex(of: "/")!]))
            // Straight from memory into the volume: no copy of the join blob on the host.
            try g.writeUntraced(file.path, file.bytes)
        }
        if removesAnswerFiles {
            cleanup = try BootRunnerContract.enqueue([BootRunnerContract.answerFileCleanup()], on: g).first?.fileName
            _ = try StartupScriptRunner.installFiles(g, systemRoot: disk.layout.systemRoot)
        }
    }
}

/// The NetBIOS name (upper case, as Windows keeps it) and the DNS host name, in SYSTEM's current control set.
final class ComputerNameOperation: OfflineOperation {
    let hostname: String
    var netBIOSName: String { hostname.uppercased() }
    private(set) var controlSet = ""

    init(_ hostname: String) { self.hostname = hostname }

    func verify(on disk: OfflineDisk) throws {
        controlSet = try disk.systemFacts().controlSet
    }

    var hives: Set<RegFile.Hive> { [.system] }

    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        guard let system = editors.system,
              let computerName = try system.node(atPath: controlSet + "\\" + Paths.computerName, create: true),
              let tcpip = try system.node(atPath: controlSet + "\\" + Paths.tcpip, create: true) else {
            throw DesktopPersonalizer.missingKey(controlSet)
        }
        try system.setValue(computerName, key: "ComputerName", .string(netBIOSName))
        try system.setValue(tcpip, key: "Hostname", .string(hostname))
        try system.setValue(tcpip, key: "NV Hostname", .string(hostname))
    }

    func check(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        guard let system = editors.system,
              let computerName = try system.node(atPath: controlSet + "\\" + Paths.computerName, create: false),
              try system.value(computerName, "ComputerName") == .string(netBIOSName) else {
            throw LCMError(.unavailable, "the edited SYSTEM hive of \(disk.name) does not read back the computer name")
        }
    }
}

/// The registered owner and organization: in SOFTWARE for an image that is not generalized; a
/// generalized one gets them from the answer file (Setup writes them into SOFTWARE at specialize).
final class OwnerOperation: OfflineOperation {
    let owner: String
    let organization: String
    let generalized: Bool

    init(owner: String, organization: String, generalized: Bool) {
        self.owner = owner
        self.organization = organization
        self.generalized = generalized
    }

    var hives: Set<RegFile.Hive> { generalized ? [] : [.software] }

    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        guard let software = editors.software, !generalized else { return }
        guard let currentVersion = try software.node(atPath: Paths.currentVersion, create: true) else {
            throw DesktopPersonalizer.missingKey(Paths.currentVersion)
        }
        try software.setValue(currentVersion, key: "RegisteredOwner", .string(owner))
        try software.setValue(currentVersion, key: "RegisteredOrganization", .string(organization))
    }
}

/// The time zone in SYSTEM's current control set, checked against the image's own list of zones
/// (whose offsets are copied too) or, without one, the built-in list.
final class TimeZoneOperation: OfflineOperation {
    let id: String
    private(set) var record = DesktopPersonalizer.TimeZoneRecord(details: nil, checkedAgainst: "unchecked")
    private(set) var controlSet = ""

    init(_ id: String) { self.id = id }

    func verify(on disk: OfflineDisk) throws {
        guard let known = try disk.software(timeZone: id).zone else {
            throw LCMError(.usage, "the image does not know the time zone \"\(id)\"",
                           hint: "use an ID from HKLM\\\(Paths.timeZones) of the image (`tzutil /l` on Windows)")
        }
        record = known
        controlSet = try disk.systemFacts().controlSet
    }

    var hives: Set<RegFile.Hive> { [.system] }

    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        guard let system = editors.system,
              let timeZone = try system.node(atPath: controlSet + "\\" + Paths.timeZoneInformation, create: true) else {
            throw DesktopPersonalizer.missingKey(controlSet)
        }
        try system.setValue(timeZone, key: "TimeZoneKeyName", .string(id))
        if let details = record.details {
            // Without these the clock runs on the old zone's offsets until Windows refreshes them.
            try system.setValue(timeZone, key: "Bias", .dword(details.bias))
            try system.setValue(timeZone, key: "StandardBias", .dword(details.standardBias))
            try system.setValue(timeZone, key: "DaylightBias", .dword(details.daylightBias))
            try system.setValue(timeZone, key: "StandardStart", .binary(details.standardStart))
            try system.setValue(timeZone, key: "DaylightStart", .binary(details.daylightStart))
            if let name = details.standardName { try system.setValue(timeZone, key: "StandardName", .string(name)) }
            if let name = details.daylightName { try system.setValue(timeZone, key: "DaylightName", .string(name)) }
        }
    }
}
