import Foundation
import Guestfs

/// Who a deployed desktop is, written into its disk before its first boot: the computer name,
/// the registered owner and organization, the time zone, and optionally an offline domain join.
/// Every field is validated when the value is made, so a bad name fails before any disk is opened.
public struct DesktopPersonalization: Sendable, CustomStringConvertible {
    /// The rule for a join blob: only Windows Setup's specialize pass reads it, and that pass runs
    /// only on a generalized image. Deploy's planner checks it against the catalog's record before
    /// anything is made; `DomainJoinOperation` verifies it for each disk it writes.
    static func checkJoin(_ joins: Bool, generalized: Bool) throws {
        guard joins && !generalized else { return }
        throw LCMError(.usage, "an offline domain join needs a generalized image: only Windows Setup's specialize pass reads the blob",
                       hint: "deploy from a sysprep-generalized image, or join the desktop after its first boot")
    }

    /// The NetBIOS and DNS host name (1-15 letters, digits and hyphens, not all digits).
    public let computerName: String
    public let registeredOwner: String
    public let registeredOrganization: String
    /// A Windows time zone ID, e.g. "W. Europe Standard Time" (not an IANA name).
    public let timeZone: String
    /// What `djoin /provision /savefile` produced; consumed by Windows Setup's specialize pass.
    public let domainJoin: OfflineDomainJoinBlob?

    public init(computerName: String, registeredOwner: String, registeredOrganization: String = "",
                timeZone: String, domainJoin: OfflineDomainJoinBlob? = nil) throws {
        try Self.validateComputerName(computerName)
        try Self.validateFreeText(registeredOwner, field: "registered owner", allowEmpty: false)
        try Self.validateFreeText(registeredOrganization, field: "registered organization", allowEmpty: true)
        try Self.validateTimeZone(timeZone)
        self.init(validated: computerName, registeredOwner: registeredOwner, registeredOrganization: registeredOrganization,
                  timeZone: timeZone, domainJoin: domainJoin)
    }

    /// Values the public initializer has already checked (a deploy's settings, checked when it was planned).
    init(validated computerName: String, registeredOwner: String, registeredOrganization: String,
         timeZone: String, domainJoin: OfflineDomainJoinBlob?) {
        self.computerName = computerName
        self.registeredOwner = registeredOwner
        self.registeredOrganization = registeredOrganization
        self.timeZone = timeZone
        self.domainJoin = domainJoin
    }

    public var description: String {
        var text = "computer \(computerName), owner \"\(registeredOwner)\", organization \"\(registeredOrganization)\", time zone \(timeZone)"
        if let domainJoin { text += ", domain join blob: \(domainJoin)" }
        return text
    }

    // MARK: Rules

    public static let computerNameRule =
        "a computer name is 1 to 15 characters, only ASCII letters, digits and hyphens, and not only digits"

    public static func validateComputerName(_ name: String) throws {
        let scalars = name.unicodeScalars
        let allowed = scalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        guard (1...15).contains(scalars.count), allowed, !scalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw LCMError(.usage, "invalid computer name \"\(NameRule.printable(name))\": \(computerNameRule)")
        }
    }

    /// Windows Setup's limit for RegisteredOwner and RegisteredOrganization.
    public static let freeTextMaximumLength = 256

    static func validateFreeText(_ text: String, field: String, allowEmpty: Bool) throws {
        if text.isEmpty && !allowEmpty {
            throw LCMError(.usage, "the \(field) must not be empty")
        }
        guard text.count <= freeTextMaximumLength else {
            throw LCMError(.usage, "the \(field) is longer than \(freeTextMaximumLength) characters")
        }
        // Control characters cannot appear in XML 1.0 and would corrupt what Windows shows.
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw LCMError(.usage, "the \(field) \"\(NameRule.printable(text))\" contains control characters; only printable text is allowed")
        }
    }

    public static let timeZoneRule =
        "a Windows time zone ID (e.g. \"W. Europe Standard Time\", see `tzutil /l`) of 1 to 127 ASCII letters, digits, spaces and . - + _ ( )"

    static func validateTimeZone(_ id: String) throws {
        let allowed = id.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || " .-+_()".unicodeScalars.contains($0))
        }
        guard (1...127).contains(id.unicodeScalars.count), allowed, id.first != " ", id.last != " " else {
            throw LCMError(.usage, "invalid time zone \"\(NameRule.printable(id))\": \(timeZoneRule)")
        }
    }

    /// Common Windows time zone IDs, for checking when the image carries no time zone list.
    public static let commonTimeZoneIDs: Set<String> = [
        "Dateline Standard Time", "UTC-11", "Hawaiian Standard Time", "Alaskan Standard Time",
        "Pacific Standard Time", "US Mountain Standard Time", "Mountain Standard Time",
        "Central America Standard Time", "Central Standard Time", "Canada Central Standard Time",
        "Eastern Standard Time", "US Eastern Standard Time", "Atlantic Standard Time",
        "Newfoundland Standard Time", "E. South America Standard Time", "Argentina Standard Time",
        "UTC-02", "Azores Standard Time", "UTC", "GMT Standard Time", "Greenwich Standard Time",
        "W. Europe Standard Time", "Central Europe Standard Time", "Romance Standard Time",
        "Central European Standard Time", "W. Central Africa Standard Time", "GTB Standard Time",
        "E. Europe Standard Time", "FLE Standard Time", "South Africa Standard Time", "Israel Standard Time",
        "Turkey Standard Time", "Russian Standard Time", "Arab Standard Time", "Arabian Standard Time",
        "Iran Standard Time", "Pakistan Standard Time", "India Standard Time", "Nepal Standard Time",
        "Bangladesh Standard Time", "SE Asia Standard Time", "China Standard Time", "Singapore Standard Time",
        "W. Australia Standard Time", "Taipei Standard Time", "Tokyo Standard Time", "Korea Standard Time",
        "Cen. Australia Standard Time", "AUS Eastern Standard Time", "E. Australia Standard Time",
        "New Zealand Standard Time", "UTC+12", "Tonga Standard Time",
    ]
}

/// The `processorArchitecture` of the answer file's components: that of the Windows image.
public enum UnattendArchitecture: String, Sendable, Codable, CaseIterable {
    case amd64
    case x86

    /// From `WindowsInspection.architecture` ("x86_64", "i386").
    public init?(inspectedArchitecture: String?) {
        switch inspectedArchitecture {
        case "x86_64": self = .amd64
        case "i386": self = .x86
        default: return nil
        }
    }
}

/// What `DesktopPersonalizer.apply` set. Names only: the join blob appears as its size.
public struct PersonalizationReport: Sendable, Codable, Equatable, CustomStringConvertible {
    public var windowsPartition: String
    /// `ControlSet00N`, from `Select\Current`.
    public var controlSet: String
    /// Upper case, as Windows keeps the NetBIOS name.
    public var computerName: String
    /// As given, as Windows keeps the DNS host name.
    public var hostname: String
    public var registeredOwner: String
    public var registeredOrganization: String
    public var timeZone: String
    /// Where the ID was checked: "image" (the image's own list, whose offsets were copied too),
    /// "built-in list", or "unchecked".
    public var timeZoneCheckedAgainst: String
    /// The answer file written for the specialize pass (volume path), nil when not generalized.
    public var answerFile: String?
    /// True when an answer file was already there and the specialize settings were merged in.
    public var answerFileMerged: Bool
    /// Size of the domain join blob written, nil without one.
    public var domainJoinBlobBytes: Int?
    /// Kinds of secret in the answer file written and those the image carried (`AnswerFileScanner`).
    public var answerFileSecrets: [String] = []
    /// The boot queue item that removes the answer files after Setup, when they carry secrets.
    public var answerFileCleanup: String?

    public var description: String {
        var lines = [
            "Windows volume: \(windowsPartition) (control set \(controlSet))",
            "computer name: \(computerName) (host name \(hostname))",
            "registered owner: \(registeredOwner)",
            "registered organization: \(registeredOrganization)",
            "time zone: \(timeZone) (checked against: \(timeZoneCheckedAgainst))",
        ]
        if let answerFile { lines.append("answer file: \(answerFile)\(answerFileMerged ? " (merged into the existing one)" : "")") }
        lines.append("join blob: " + (domainJoinBlobBytes.map { "present, \($0) bytes" } ?? "none"))
        if let answerFileCleanup {
            lines.append("answer files hold \(answerFileSecrets.joined(separator: ", ")): every copy removed after Setup by boot queue item \(answerFileCleanup)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Writes a `DesktopPersonalization` into a Windows disk offline, before its first boot, as a set
/// of `OfflineOperation`s over one `OfflineDisk`.
public enum DesktopPersonalizer {
    enum Paths {
        static let select = "Select"
        static let computerName = "Control\\ComputerName\\ComputerName"
        static let tcpip = "Services\\Tcpip\\Parameters"
        static let timeZoneInformation = "Control\\TimeZoneInformation"
        static let currentVersion = "Microsoft\\Windows NT\\CurrentVersion"
        static let timeZones = "Microsoft\\Windows NT\\CurrentVersion\\Time Zones"
        static let setupState = "Microsoft\\Windows\\CurrentVersion\\Setup\\State"
        static let setup = "Setup"
    }

    /// Answer files Windows Setup reads from the Windows directory, highest precedence first
    /// (relative to the system root). Writing a lower one while a higher one exists would be ignored.
    static let answerFileCandidates = [
        "/Panther/Unattend/unattend.xml", "/Panther/Unattend/autounattend.xml",
        "/Panther/unattend.xml", "/Panther/autounattend.xml",
    ]

    /// Personalizes the Windows installation on `access`'s disk. Mounts its Windows volume
    /// read-write, writes the computer name and time zone into the current control set of SYSTEM,
    /// and for a `generalized` image the specialize-pass answer file, which carries the registered
    /// owner and organization too (Setup writes them into SOFTWARE at specialize). An image that is
    /// not generalized gets them in SOFTWARE directly. Leaves nothing mounted and no hive open.
    ///
    /// Everything is checked before the first write: a hibernated or Fast Startup volume, a
    /// join blob on an image that is not generalized, `generalized` contradicting the image's
    /// ImageState, a time zone the image does not know, an answer file that cannot be merged.
    /// The values themselves were checked when `personalization` was made.
    ///
    /// - Parameters:
    ///   - architecture: the image's architecture, for the answer file's components.
    ///   - golden: what fresh overlays of one golden version share (the catalog's inspection
    ///     record; layout, control set, time zones learned on the first disk) for the disks of a
    ///     batch; nil: learn it from this disk alone. Pass one only for disks that are unchanged
    ///     copies of the same image.
    public static func apply(_ personalization: DesktopPersonalization, to access: DiskAccess, generalized: Bool,
                             architecture: UnattendArchitecture = .amd64, golden: GoldenFacts? = nil) throws -> PersonalizationReport {
        let join = personalization.domainJoin.map { DomainJoinOperation($0, generalized: generalized) }
        let answerFile = AnswerFileOperation(personalization, generalized: generalized, architecture: architecture)
        let computerName = ComputerNameOperation(personalization.computerName)
        let owner = OwnerOperation(owner: personalization.registeredOwner, organization: personalization.registeredOrganization,
                                   generalized: generalized)
        let timeZone = TimeZoneOperation(personalization.timeZone)
        // In this order the refusals come as they always did: the join rule, the answer file and
        // ImageState, then the time zone.
        let operations: [any OfflineOperation] = (join.map { [$0] } ?? []) + [answerFile, computerName, owner, timeZone]

        let disk = try OfflineDisk.run(operations, on: access, golden: golden ?? GoldenFacts())
        return PersonalizationReport(
            windowsPartition: disk.partition, controlSet: computerName.controlSet, computerName: computerName.netBIOSName,
            hostname: personalization.computerName, registeredOwner: personalization.registeredOwner,
            registeredOrganization: personalization.registeredOrganization, timeZone: personalization.timeZone,
            timeZoneCheckedAgainst: timeZone.record.checkedAgainst, answerFile: answerFile.file?.path,
            answerFileMerged: answerFile.file?.merged ?? false,
            domainJoinBlobBytes: generalized ? join?.blobBytes : nil,
            answerFileSecrets: answerFile.secrets, answerFileCleanup: answerFile.cleanup)
    }

    static func missingKey(_ path: String) -> LCMError {
        LCMError(.failure, "cannot create registry key \(path)")
    }

    // MARK: Time zone

    struct TimeZoneRecord {
        struct Details {
            var bias: UInt32, standardBias: UInt32, daylightBias: UInt32
            var standardStart: [UInt8], daylightStart: [UInt8]
            var standardName: String?, daylightName: String?
        }
        var details: Details?
        var checkedAgainst: String
    }

    /// Checks the ID against the image's `Time Zones` list when it has one (and reads the
    /// zone's offsets from its `TZI`), else against the built-in list. Nil: the image's list lacks it.
    static func timeZoneRecord(_ id: String, g: GuestfsSession) throws -> TimeZoneRecord? {
        guard let zones = try g.node(atPath: Paths.timeZones), !(try g.nodeChildren(zones)).isEmpty else {
            return TimeZoneRecord(details: nil,
                                  checkedAgainst: DesktopPersonalization.commonTimeZoneIDs.contains(id) ? "built-in list" : "unchecked")
        }
        guard let zone = try g.nodeGetChild(zones, id) else { return nil }
        // TZI: Bias, StandardBias, DaylightBias (LONG each), StandardDate, DaylightDate (SYSTEMTIME).
        guard case .binary(let tzi)? = try g.value(zone, "TZI"), tzi.count == 44 else {
            return TimeZoneRecord(details: nil, checkedAgainst: "image")
        }
        func long(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(tzi[offset + $1]) << (8 * $1) } }
        let standardName = try g.value(zone, "MUI_Std")?.stringValue ?? g.value(zone, "Std")?.stringValue
        let daylightName = try g.value(zone, "MUI_Dlt")?.stringValue ?? g.value(zone, "Dlt")?.stringValue
        let details = TimeZoneRecord.Details(bias: long(0), standardBias: long(4), daylightBias: long(8),
                                             standardStart: Array(tzi[12..<28]), daylightStart: Array(tzi[28..<44]),
                                             standardName: standardName, daylightName: daylightName)
        return TimeZoneRecord(details: details, checkedAgainst: "image")
    }

    // MARK: Answer file

    /// The answer file Windows Setup will read at specialize, with this personalization merged in.
    static func specializeAnswerFile(_ personalization: DesktopPersonalization, disk: OfflineDisk,
                                     architecture: UnattendArchitecture) throws -> (path: String, bytes: [UInt8], merged: Bool) {
        let g = disk.session
        let facts = disk.golden
        func probe() -> String? {
            answerFileCandidates.lazy.compactMap { candidate -> String? in
                guard let path = try? g.caseSensitivePath(disk.layout.systemRoot + candidate), (try? g.isFile(path)) == true else { return nil }
                return path
            }.first
        }
        let existingPath: String?
        switch facts.existingAnswerFile {
        case .some(.none):
            existingPath = nil
        case .some(.some(let known)):
            // Where the image has one, a copy has it too; a disk an interrupted run left half done
            // may be the one that had it, so a miss is probed afresh.
            existingPath = (try? g.isFile(known)) == true ? known : probe()
        case .none:
            existingPath = probe()
            facts.existingAnswerFile = .some(existingPath)
        }
        if let path = existingPath {
            var existing = try g.read(path)
            defer { DiskPassphrase.wipe(&existing) }
            let bytes = try SpecializeAnswerFile.merge(personalization, architecture: architecture, into: Data(existing), path: path)
            return (path, bytes, true)
        }
        let path = disk.layout.pantherDirectory + "/unattend.xml"
        return (path, try SpecializeAnswerFile.merge(personalization, architecture: architecture, into: nil, path: path), false)
    }
}
