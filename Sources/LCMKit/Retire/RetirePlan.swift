import Foundation
import FoundationXML
import GRDB
import Libvirt

/// How a desktop's files are sanitized (`lcm retire --method`).
public enum SanitizationMethod: String, Codable, Sendable, CaseIterable {
    /// Crypto-erase for encrypted volumes, then one random pass; one random pass for the rest.
    case automatic = "auto"
    /// LUKS keyslots and every key copy destroyed, always followed by one random pass.
    case cryptoErase = "crypto-erase"
    /// One pass from the AES-256-CTR stream.
    case overwrite
    /// One pass of zeros.
    case zero
    /// Zeros, ones, random (for policies that still name DoD 5220.22-M).
    case dod3pass = "dod-3pass"
    /// Writes nothing: checks that every file reads back as zeros.
    case verifyOnly = "verify-only"

    /// The passes written over a file, in order.
    func passes(encrypted: Bool) -> [OverwritePattern] {
        switch self {
        case .automatic, .cryptoErase, .overwrite: [.freshRandom()]
        case .zero: [.constant(0)]
        case .dod3pass: [.constant(0), .constant(0xFF), .freshRandom()]
        case .verifyOnly: []
        }
    }

    /// Whether the LUKS keyslots of an encrypted volume are erased before the passes.
    func erasesKeyslots(encrypted: Bool) -> Bool {
        encrypted && (self == .automatic || self == .cryptoErase)
    }
}

/// Everything one desktop's retirement touches, fixed before anything changes (`--dry-run`
/// prints it). Stored with the retirement so a resumed run works on the same list.
public struct RetirePlan: Codable, Sendable, Equatable {
    public struct File: Codable, Sendable, Equatable {
        /// os, os-layer, os-pending, data, nvram, tpm-state, qemu-log; and what the domain writes
        /// that lcm did not create: disk, snapshot, snapshot-memory, managed-save.
        public var role: String
        /// The path on the device's host.
        public var path: String
        /// The volume's name in `pool` for volumes; nil for NVRAM and TPM state (plain host files).
        public var volume: String?
        public var encrypted: Bool
        public var discard: Bool?
        public var virtualBytes: UInt64?
        public var allocatedBytes: UInt64?
    }

    public var desktop: String
    public var desktopID: Int64
    public var device: String?
    public var uri: String
    public var pool: String
    public var domainUUID: String?
    public var domainDefined: Bool
    public var user: String?
    public var keyID: String?
    public var files: [File]
    /// Live key copies: "location: detail (host)".
    public var keyCopies: [String]
    public var seats: Int
    /// What stays: the golden version the OS layer is based on.
    public var kept: [String]

    static let qemuLogDirectory = "/var/log/libvirt/qemu"
    /// Where libvirt's system qemu driver keeps `virsh managedsave` images.
    static let managedSaveDirectory = "/var/lib/libvirt/qemu/save"

    /// Files a domain writes that are named by path in its XML or its snapshots' XML: writable
    /// disk sources ("disk"), external snapshot overlays ("snapshot") and memory images
    /// ("snapshot-memory"). CD-ROMs and read-only disks are not written, so not listed.
    static func unrecordedFiles(domainXML: String, snapshotXMLs: [String]) throws -> [(path: String, role: String)] {
        var found: [(path: String, role: String)] = []
        func add(_ path: String?, _ role: String) {
            guard let path, !path.isEmpty, !found.contains(where: { $0.path == path }) else { return }
            found.append((path, role))
        }
        var snapshotDisks: Set<String> = []
        for xml in snapshotXMLs {
            let snapshot = try SafeXML.libvirtDocument(xml, what: "a snapshot's XML")
            for node in try snapshot.nodes(forXPath: "/domainsnapshot/disks/disk[@snapshot='external']/source/@file") {
                if let path = node.stringValue { snapshotDisks.insert(path); add(path, "snapshot") }
            }
            for node in try snapshot.nodes(forXPath: "/domainsnapshot/memory[@snapshot='external']/@file") {
                add(node.stringValue, "snapshot-memory")
            }
        }
        let domain = try SafeXML.libvirtDocument(domainXML, what: "the domain's XML")
        for node in try domain.nodes(forXPath: "/domain/devices/disk[(not(@device) or @device='disk') and not(readonly)]/source/@file") {
            if let path = node.stringValue { add(path, snapshotDisks.contains(path) ? "snapshot" : "disk") }
        }
        return found
    }

    /// Builds the plan from the inventory and the device. Refuses a volume the desktop does not own.
    public static func make(desktop name: String, inventory: Inventory) throws -> RetirePlan {
        guard let row = try inventory.read({ db in
            try Row.fetchOne(db, sql: """
                SELECT d.id, d.status, d.settings, d.keyID, d.domainUUID, v.libvirtURI AS uri, v.assetTag, u.username
                FROM desktop d LEFT JOIN device v ON v.id = d.deviceID LEFT JOIN user u ON u.id = d.userID WHERE d.name = ?
                """, arguments: [name])
        }) else {
            throw LCMError.notFound("desktop \(name)", hint: "`lcm manage status` lists the desktops")
        }
        let id: Int64 = row["id"]
        guard let settingsText = row["settings"] as String?,
              let settings = try? JSONDecoder().decode(DesktopSettings.self, from: Data(settingsText.utf8)) else {
            throw LCMError(.conflict, "desktop \(name) was never completely deployed: nothing of it is known to sanitize",
                           hint: "remove it with `lcm deploy --undo \(name)`")
        }
        let connection = try Connection(uri: settings.uri)
        let pool = try connection.lookupStoragePool(name: settings.pool)
        var files: [File] = []
        let recorded = try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT name, role, encrypted, discard FROM volume WHERE desktopID = ? ORDER BY id", arguments: [id])
        }
        for volumeName in try DesktopVolumes.allNames(desktopID: id, name: name, inventory: inventory) {
            guard volumeName.hasPrefix(name + "-") else {
                throw LCMError(.conflict, "volume \(volumeName) is recorded for desktop \(name) but is not named after it",
                               hint: "lcm only sanitizes what the desktop owns; check the volume rows")
            }
            guard let volume = try pool?.lookupVolume(name: volumeName) else { continue }
            let record = recorded.first { ($0["name"] as String?) == volumeName }
            let info = try volume.info()
            let role: String = record?["role"] ?? (volumeName == DesktopSettings.dataVolume(name) ? "data" : "os")
            files.append(File(role: role, path: try volume.path, volume: volumeName,
                              encrypted: record?["encrypted"] ?? settings.encrypted, discard: record?["discard"] ?? settings.discard,
                              virtualBytes: info.capacity, allocatedBytes: info.allocation))
        }
        let domain = try connection.lookupDomain(name: name)
        if let domain {
            // What the domain writes that lcm did not create: external snapshots (the disk then
            // writes to their overlay) and each snapshot's memory image (RAM, keys in clear).
            let xml = try domain.isActive ? domain.xmlDescription() : domain.xmlDescription(flags: .inactive)
            let known = Set(files.map(\.path) + [settings.imagePath])
            let extra = try unrecordedFiles(domainXML: xml, snapshotXMLs: domain.snapshotXMLDescriptions())
                .filter { !known.contains($0.path) }
            if !extra.isEmpty { try pool?.refresh() }
            for (path, role) in extra {
                guard (path as NSString).lastPathComponent.hasPrefix(name + "-") else {
                    throw LCMError(.conflict, "desktop \(name) writes to \(path), which lcm did not create for it and which is not named after it",
                                   hint: "lcm sanitizes only what the desktop owns: detach it or sanitize it yourself, then run again")
                }
                let volume = try pool?.lookupVolume(name: (path as NSString).lastPathComponent).flatMap { try $0.path == path ? $0 : nil }
                let info = try volume?.info()
                files.append(File(role: role, path: path, volume: try volume?.name, encrypted: false, discard: nil,
                                  virtualBytes: info?.capacity, allocatedBytes: info?.allocation))
            }
            if try domain.hasManagedSaveImage {
                let saved = "\(name).save"
                for path in try HostFiles.list(directory: managedSaveDirectory, connection: connection)
                where (path as NSString).lastPathComponent == saved {
                    files.append(File(role: "managed-save", path: path, volume: nil, encrypted: false, discard: nil,
                                      virtualBytes: nil, allocatedBytes: nil))
                }
            }
            if let nvram = try DesktopDomain.nvramPath(of: domain) {
                files.append(File(role: "nvram", path: nvram, volume: nil, encrypted: false, discard: nil, virtualBytes: nil, allocatedBytes: nil))
            }
        }
        let uuid = try domain.map { try $0.uuidString } ?? (row["domainUUID"] as String?)
        if let uuid {
            for path in try HostFiles.list(directory: "/var/lib/libvirt/swtpm/\(uuid.lowercased())/tpm2", connection: connection) {
                files.append(File(role: "tpm-state", path: path, volume: nil, encrypted: row["keyID"] != nil, discard: nil,
                                  virtualBytes: nil, allocatedBytes: nil))
            }
        }
        // qemu's log holds the command line of every run, with the disk key encrypted under that
        // run's master key (a file libvirtd unlinks, unwiped, when the domain stops).
        for path in try HostFiles.list(directory: qemuLogDirectory, connection: connection) {
            let file = (path as NSString).lastPathComponent
            guard file == "\(name).log" || file.hasPrefix("\(name).log.") else { continue }
            files.append(File(role: "qemu-log", path: path, volume: nil, encrypted: false, discard: nil, virtualBytes: nil, allocatedBytes: nil))
        }
        let keyID: String? = row["keyID"]
        let copies = try keyID.map { try DesktopKey.copies(keyID: $0, inventory: inventory) } ?? []
        let seats = try inventory.read { db in try Licenses.held(db, desktopID: id) }
        return RetirePlan(
            desktop: name, desktopID: id, device: row["assetTag"], uri: settings.uri, pool: settings.pool,
            domainUUID: uuid, domainDefined: domain != nil, user: row["username"], keyID: keyID, files: files,
            keyCopies: copies.map { "\($0.location.rawValue): \($0.detail)" + ($0.hostURI.map { " (\($0))" } ?? "") },
            seats: seats, kept: [settings.imagePath])
    }
}
