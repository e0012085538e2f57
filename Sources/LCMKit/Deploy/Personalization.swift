import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
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

/// The offline domain join blob (`djoin /provision /savefile`): base64 text that carries the
/// machine account's password. Like `DiskPassphrase` it prints as `<redacted>`, is not
/// `Codable`, and its bytes are `SecretBytes` (zeroed when released); it reaches only the answer file on the disk.
public final class OfflineDomainJoinBlob: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let secret: SecretBytes

    /// The base64 text itself (whitespace and a trailing NUL are dropped).
    public convenience init(base64Text: String) throws {
        var bytes = Array(base64Text.utf8)
        defer { DiskPassphrase.wipe(&bytes) }
        try self.init(asciiText: bytes)
    }

    /// The contents of the file `djoin /provision /savefile` wrote: UTF-16LE (with or without a
    /// byte order mark) as djoin writes it, or plain ASCII.
    public convenience init(savefileContents raw: [UInt8]) throws {
        var bytes = raw
        if bytes.starts(with: [0xFF, 0xFE]) { bytes.removeFirst(2) }
        let looksUTF16 = bytes.count >= 2 && bytes.count % 2 == 0
            && stride(from: 1, to: bytes.count, by: 2).allSatisfy { bytes[$0] == 0 }
        if looksUTF16 { bytes = stride(from: 0, to: bytes.count, by: 2).map { bytes[$0] } }
        defer { DiskPassphrase.wipe(&bytes) }
        try self.init(asciiText: bytes)
    }

    private init(asciiText: [UInt8]) throws {
        var text = asciiText.filter { !($0 == 0 || $0 == 0x20 || (0x09...0x0D).contains($0)) }
        defer { DiskPassphrase.wipe(&text) }
        let alphabet = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8))
        // The error never quotes the text: it is a credential.
        guard !text.isEmpty, text.count % 4 == 0, text.allSatisfy(alphabet.contains),
              !text.dropLast(2).contains(UInt8(ascii: "=")) else {
            throw LCMError(.dataError, "the offline domain join blob is not base64 text as `djoin /provision /savefile` writes it",
                           hint: "pass the file djoin wrote, unchanged")
        }
        secret = SecretBytes(copying: text)
    }

    /// Length of the base64 text in bytes.
    public var count: Int { secret.count }

    /// Runs `body` with the base64 bytes; do not let them escape.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try secret.withBytes(body)
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "OfflineDomainJoinBlob(<redacted>, \(count) bytes)" }
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

/// Builds the specialize pass of an unattend answer file, or merges it into an existing one
/// (keeping its other passes, components and settings).
enum SpecializeAnswerFile {
    static let namespace = "urn:schemas-microsoft-com:unattend"
    static let wcmNamespace = "http://schemas.microsoft.com/WMIConfig/2002/State"
    static let xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"
    static let publicKeyToken = "31bf3856ad364e35"
    static let shellSetup = "Microsoft-Windows-Shell-Setup"
    static let unattendedJoin = "Microsoft-Windows-UnattendedJoin"

    static func merge(_ personalization: DesktopPersonalization, architecture: UnattendArchitecture,
                      into existing: Data?, path: String) throws -> [UInt8] {
        let document: XMLDocument
        let root: XMLElement
        if let existing {
            let parsed: XMLDocument
            do {
                parsed = try SafeXML.document(existing, source: "the existing answer file \(path)")
            } catch let refusal as SafeXML.Refusal {
                throw refusal.lcmError(hint: "fix or remove it in the golden image")
            }
            guard let parsedRoot = parsed.rootElement(),
                  parsedRoot.localName == "unattend", parsedRoot.uri == namespace else {
                throw LCMError(.dataError, "the existing answer file \(path) is not an unattend document lcm can merge into",
                               hint: "fix or remove it in the golden image")
            }
            document = parsed
            root = parsedRoot
        } else {
            root = XMLElement(name: "unattend")
            root.addNamespace(namespaceNode("", namespace))
            document = XMLDocument(rootElement: root)
        }
        document.version = "1.0"
        document.characterEncoding = "utf-8"

        let settings = child(of: root, named: "settings", where: { SpecializeAnswerFile.attribute($0, "pass") == "specialize" }) {
            let element = XMLElement(name: "settings")
            element.addAttribute(attributeNode("pass", "specialize"))
            return element
        }
        let shell = component(shellSetup, in: settings, architecture: architecture)
        setChild(shell, "ComputerName", personalization.computerName)
        setChild(shell, "RegisteredOrganization", personalization.registeredOrganization)
        setChild(shell, "RegisteredOwner", personalization.registeredOwner)
        setChild(shell, "TimeZone", personalization.timeZone)

        if let blob = personalization.domainJoin {
            let join = component(unattendedJoin, in: settings, architecture: architecture)
            // Provisioning replaces any online join (Credentials, JoinDomain) the image carried.
            for old in join.elements(forLocalName: "Identification", uri: namespace) { old.detach() }
            let identification = XMLElement(name: "Identification")
            let provisioning = XMLElement(name: "Provisioning")
            let accountData = XMLElement(name: "AccountData")
            accountData.stringValue = blob.withBytes { String(decoding: $0, as: UTF8.self) }
            provisioning.addChild(accountData)
            identification.addChild(provisioning)
            join.addChild(identification)
        }
        return Array(document.xmlData(options: [.nodePrettyPrint]))
    }

    /// The component `name` for `architecture` in `settings`, created when missing.
    static func component(_ name: String, in settings: XMLElement, architecture: UnattendArchitecture) -> XMLElement {
        child(of: settings, named: "component", where: {
            SpecializeAnswerFile.attribute($0, "name") == name
                && SpecializeAnswerFile.attribute($0, "processorArchitecture") == architecture.rawValue
        }) {
            let element = XMLElement(name: "component")
            for (key, value) in [("name", name), ("processorArchitecture", architecture.rawValue), ("publicKeyToken", publicKeyToken),
                                 ("language", "neutral"), ("versionScope", "nonSxS")] {
                element.addAttribute(attributeNode(key, value))
            }
            element.addNamespace(namespaceNode("wcm", wcmNamespace))
            element.addNamespace(namespaceNode("xsi", xsiNamespace))
            return element
        }
    }

    static func child(of parent: XMLElement, named name: String, where matches: (XMLElement) -> Bool,
                      create: () -> XMLElement) -> XMLElement {
        if let found = parent.elements(forLocalName: name, uri: namespace).first(where: matches) { return found }
        let element = create()
        parent.addChild(element)
        return element
    }

    /// Replaces the setting `name` of a component (keeping the component's other settings).
    static func setChild(_ parent: XMLElement, _ name: String, _ value: String) {
        for old in parent.elements(forLocalName: name, uri: namespace) { old.detach() }
        let element = XMLElement(name: name)
        element.stringValue = value
        parent.addChild(element)
    }

    /// An unprefixed attribute's value. `attribute(forName:)` misses these on parsed elements in a
    /// default namespace (swift-corelibs-foundation looks them up in the element's namespace).
    static func attribute(_ element: XMLElement, _ name: String) -> String? {
        element.attributes?.first { $0.name == name }?.stringValue
    }

    static func namespaceNode(_ prefix: String, _ uri: String) -> XMLNode {
        XMLNode.namespace(withName: prefix, stringValue: uri) as! XMLNode
    }

    static func attributeNode(_ name: String, _ value: String) -> XMLNode {
        XMLNode.attribute(withName: name, stringValue: value) as! XMLNode
    }
}
