import Foundation
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
        /// Device and inode on this machine when planned (nil on a remote host): the file is
        /// refused if its name leads anywhere else later.
        public var identity: FileIdentity? = nil
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
    /// What the desktop's data may be in that lcm does not sanitize: named in the certificate,
    /// whose claim it lowers (nil in plans made before lcm looked for them).
    public var notSanitized: [SanitizationCertificate.NotSanitized]?
    /// Live key copies: "location: detail (host)".
    public var keyCopies: [String]
    public var seats: Int
    /// What stays: the golden version the OS layer is based on.
    public var kept: [String]

    static let qemuLogDirectory = "/var/log/libvirt/qemu"
    /// Where libvirt's system qemu driver keeps domains' NVRAM (`<name>_VARS.fd`) by default.
    static let nvramDirectory = "/var/lib/libvirt/qemu/nvram"
    static let swtpmStateDirectory = "/var/lib/libvirt/swtpm"
    /// Where libvirt has swtpm log (`<name>-swtpm.log`).
    static let swtpmLogDirectory = "/var/log/swtpm/libvirt/qemu"
    /// Where libvirt's system qemu driver keeps `virsh managedsave` images.
    static let managedSaveDirectory = "/var/lib/libvirt/qemu/save"

    /// What a domain's definitions (running and inactive) and its snapshots say it stores data in.
    struct DomainStorage: Equatable {
        /// Files named by path: writable disk sources ("disk"), external snapshot overlays
        /// ("snapshot"), memory images ("snapshot-memory"), and files below them in a backing
        /// chain ("backing", read by the domain, written earlier).
        var files: [Found] = []
        /// Disks that are volumes of a pool: "pool/volume".
        var volumes: [String] = []
        /// Disks lcm cannot overwrite as a file (block devices, network disks, ...).
        var elsewhere: [SanitizationCertificate.NotSanitized] = []

        struct Found: Equatable {
            var path: String
            var role: String
        }

        mutating func add(_ path: String?, _ role: String) {
            guard let path, !path.isEmpty, !files.contains(where: { $0.path == path }) else { return }
            files.append(.init(path: path, role: role))
        }

        mutating func addElsewhere(_ item: String, _ reason: String) {
            guard !elsewhere.contains(where: { $0.item == item }) else { return }
            elsewhere.append(.init(item: item, reason: reason))
        }

        /// The external snapshots' overlays and memory images; returns the overlays' paths.
        mutating func addSnapshots(_ snapshotXMLs: [String]) throws -> Set<String> {
            var overlays: Set<String> = []
            for xml in snapshotXMLs {
                let snapshot = try DomainSnapshotDefinition(xml: xml, what: "a snapshot's XML")
                let name = snapshot.name ?? "?"
                for disk in snapshot.disks where disk.snapshot == "external" {
                    let type = disk.type ?? "file"
                    if type == "file" {
                        if let path = disk.source?.file {
                            overlays.insert(path)
                            add(path, "snapshot")
                        }
                    } else {
                        addElsewhere(Self.describe(disk.source, type: type), "external snapshot \(name)'s overlay is not a file: lcm cannot overwrite it")
                    }
                }
                if snapshot.memory == "external" { add(snapshot.memoryFile, "snapshot-memory") }
            }
            return overlays
        }

        /// The writable disks of the definitions, with their backing chains.
        mutating func addDisks(_ domainXMLs: [String], snapshotOverlays: Set<String>) throws {
            for xml in domainXMLs {
                let domain = try DomainDefinition(xml: xml, what: "the domain's XML")
                for disk in domain.devices.disks where disk.device != "cdrom" && !disk.readonly {
                    let target = disk.target?.device ?? "?"
                    switch disk.type {
                    case "file":
                        if let path = disk.source?.file {
                            add(path, snapshotOverlays.contains(path) ? "snapshot" : "disk")
                            addBackingChain(of: disk, owner: path)
                        }
                    case "volume":
                        if let pool = disk.source?.pool, let volume = disk.source?.volume, !volumes.contains("\(pool)/\(volume)") {
                            volumes.append("\(pool)/\(volume)")
                        }
                        addBackingChain(of: disk, owner: "disk \(target)")
                    default:
                        addElsewhere(Self.describe(disk.source, type: disk.type), "disk \(target) of the domain is not a file: lcm cannot overwrite or verify it; sanitize it where it lives")
                    }
                }
            }
        }

        /// The files (or other stores) under a disk, in its backing chain.
        mutating func addBackingChain(of disk: DiskDefinition, owner: String) {
            for store in disk.backingChain {
                if store.type == "file" {
                    add(store.source?.file, "backing")
                } else {
                    addElsewhere(Self.describe(store.source, type: store.type), "in the backing chain of \(owner): lcm sanitizes only files it can open and check")
                }
            }
        }

        /// A disk's or backing store's source by its type.
        static func describe(_ source: DiskSource?, type: String) -> String {
            switch type {
            case "block": return "block device \(source?.device ?? "?")"
            case "network":
                let hosts = source?.hosts ?? []
                return "network disk \(source?.networkProtocol ?? "?"):\(source?.name ?? "?")" + (hosts.isEmpty ? "" : " on \(hosts.joined(separator: ", "))")
            case "dir": return "directory \(source?.directory ?? "?")"
            default: return "\(type) disk \(source?.device ?? source?.name ?? "")"
            }
        }
    }

    /// Every place a domain's definitions and snapshots say it keeps data. CD-ROMs and read-only
    /// disks are not written, so not listed.
    static func domainStorage(domainXMLs: [String], snapshotXMLs: [String]) throws -> DomainStorage {
        var storage = DomainStorage()
        let snapshotOverlays = try storage.addSnapshots(snapshotXMLs)
        try storage.addDisks(domainXMLs, snapshotOverlays: snapshotOverlays)
        return storage
    }

    /// A host file found for the plan: to wipe, or to name as not sanitized.
    enum HostFileFinding {
        case file(File)
        case notSanitized(SanitizationCertificate.NotSanitized)
    }

    /// A host file as the plan takes it: on this machine with its device and inode, or named as
    /// not sanitized when it is not a regular file with one link (a symbolic link is never
    /// followed; another link's file would be wiped with it); nil when it is gone.
    static func hostFile(role: String, path: String, encrypted: Bool, local: Bool) throws -> HostFileFinding? {
        var identity: FileIdentity?
        if local {
            guard let found = try LinkSafePath.inspect(path) else { return nil }
            guard found.kind == S_IFREG else {
                return .notSanitized(.init(item: "\(role) \(path)", reason: found.kind == S_IFLNK
                    ? "a symbolic link where a file was expected: lcm does not follow it, and did not sanitize what it points to"
                    : "not a regular file: lcm overwrites only regular files"))
            }
            guard found.links == 1 else {
                return .notSanitized(.init(item: "\(role) \(path)", reason: "has \(found.links) hard links: overwriting it would overwrite another name's file too"))
            }
            identity = found.identity
        }
        return .file(File(role: role, path: path, volume: nil, encrypted: encrypted, discard: nil, virtualBytes: nil, allocatedBytes: nil,
                          identity: identity))
    }

    /// The files a desktop leaves on its host outside any pool: NVRAM (the definitions' paths and
    /// libvirt's default, which a domain undefined behind lcm's back leaves), swtpm's state and
    /// log, qemu's log. Looked for when planning and again once the domain is stopped (swtpm
    /// saves its state into a new file when it stops).
    static func hostFiles(desktop name: String, uuid: String?, nvramPaths: [String], encryptedTPM: Bool,
                          connection: Connection) throws -> [HostFileFinding] {
        let local = DiskHost.isLocal(uri: try connection.uri)
        var found: [(role: String, path: String, encrypted: Bool)] = nvramPaths.map { ("nvram", $0, false) }
        for path in try HostFiles.list(directory: nvramDirectory, connection: connection)
        where (path as NSString).lastPathComponent == "\(name)_VARS.fd" {
            found.append(("nvram", path, false))
        }
        if let uuid {
            // swtpm's state (tpm2/, and tpm12/ for a TPM 1.2), in directories the swtpm user owns.
            for version in ["tpm2", "tpm12"] {
                for path in try HostFiles.list(directory: "\(swtpmStateDirectory)/\(uuid.lowercased())/\(version)", connection: connection) {
                    found.append(("tpm-state", path, encryptedTPM))
                }
            }
        }
        // swtpm's log of the desktop (its setup and runs; no key, but the desktop's) and qemu's
        // log, which holds the command line of every run, with the disk key encrypted under that
        // run's master key (a file libvirtd unlinks, unwiped, when the domain stops).
        for path in try HostFiles.list(directory: swtpmLogDirectory, connection: connection)
        where (path as NSString).lastPathComponent == "\(name)-swtpm.log" {
            found.append(("swtpm-log", path, false))
        }
        for path in try HostFiles.list(directory: qemuLogDirectory, connection: connection) {
            let file = (path as NSString).lastPathComponent
            guard file == "\(name).log" || file.hasPrefix("\(name).log.") else { continue }
            found.append(("qemu-log", path, false))
        }
        var seen: Set<String> = []
        return try found.filter { seen.insert($0.path).inserted }.compactMap { try hostFile(role: $0.role, path: $0.path, encrypted: $0.encrypted, local: local) }
    }

    /// Builds the plan from the inventory and the device. Refuses a volume the desktop does not own.
    public static func make(desktop name: String, inventory: Inventory, connections: ConnectionFactory) throws -> RetirePlan {
        let found = try deployedDesktop(name, inventory: inventory)
        let desktop = found.desktop, settings = found.settings, id = desktop.id!
        let connection = try connections.connect(settings.uri)
        let pool = try connection.lookupStoragePool(name: settings.pool)
        // A volume removed behind libvirt's back is listed until the pool is looked at again.
        try pool?.refresh()
        var findings = Findings(local: DiskHost.isLocal(uri: settings.uri))
        try findings.addVolumes(of: name, desktopID: id, settings: settings, pool: pool, inventory: inventory)
        let domain = try connection.lookupDomain(name: name)
        var nvramPaths: [String] = []
        if let domain {
            // Golden versions lcm uploaded to this host: backing files it recorded and never writes.
            let goldenCopies = try inventory.read { db in
                try String.fetchAll(db, sql: "SELECT path FROM hostImage WHERE uri = ? ORDER BY id", arguments: [settings.uri])
            }
            nvramPaths = try findings.addDomainWrites(domain, of: name, settings: settings, pool: pool,
                                                      notWritten: [settings.imagePath] + goldenCopies, connection: connection)
        }
        let uuid = try domain.map { try $0.uuidString } ?? desktop.domainUUID
        for found in try hostFiles(desktop: name, uuid: uuid, nvramPaths: nvramPaths, encryptedTPM: desktop.keyID != nil, connection: connection) {
            findings.add(found)
        }
        let keyID = desktop.keyID
        let copies = try keyID.map { try DesktopKey.copies(keyID: $0, inventory: inventory) } ?? []
        let seats = try inventory.read { db in try Licenses.held(db, desktopID: id) }
        return RetirePlan(
            desktop: name, desktopID: id, device: found.assetTag, uri: settings.uri, pool: settings.pool,
            domainUUID: uuid, domainDefined: domain != nil, user: found.username, keyID: keyID, files: findings.files,
            notSanitized: findings.notSanitized,
            keyCopies: copies.map { "\($0.location.rawValue): \($0.detail)" + ($0.hostURI.map { " (\($0))" } ?? "") },
            seats: seats, kept: [settings.imagePath])
    }

    /// The desktop's row with its settings, device and user; refuses one never completely deployed.
    static func deployedDesktop(_ name: String, inventory: Inventory) throws
        -> (desktop: Desktop, settings: DesktopSettings, assetTag: String?, username: String?) {
        guard let found = try inventory.read({ db -> (desktop: Desktop, assetTag: String?, username: String?)? in
            guard let desktop = try DesktopStore.find(db, name: name) else { return nil }
            let device = try desktop.deviceID.flatMap { try Device.fetchOne(db, key: $0) }
            let user = try desktop.userID.flatMap { try User.fetchOne(db, key: $0) }
            return (desktop, device?.assetTag, user?.username)
        }) else {
            throw LCMError.notFound("desktop \(name)", hint: "`lcm manage status` lists the desktops")
        }
        guard let settings = found.desktop.settings else {
            throw LCMError(.conflict, "desktop \(name) was never completely deployed: nothing of it is known to sanitize",
                           hint: "remove it with `lcm deploy --undo \(name)`")
        }
        return (found.desktop, settings, found.assetTag, found.username)
    }

    /// What the plan has found so far: the files to sanitize and what lcm names as not sanitized.
    struct Findings {
        /// Whether the device is this machine (files then get checked and identified here).
        let local: Bool
        var files: [File] = []
        var notSanitized: [SanitizationCertificate.NotSanitized] = []
        /// Volume files refused by `volumeIdentity`, so they are not found again as unknown writes.
        var refusedPaths: Set<String> = []

        init(local: Bool) { self.local = local }

        mutating func add(_ finding: HostFileFinding) {
            switch finding {
            case .file(let file) where !files.contains(where: { $0.path == file.path }): files.append(file)
            case .notSanitized(let item): notSanitized.append(item)
            default: break
            }
        }

        mutating func addHostFile(_ role: String, _ path: String, encrypted: Bool = false) throws {
            guard !files.contains(where: { $0.path == path }) else { return }
            if let finding = try RetirePlan.hostFile(role: role, path: path, encrypted: encrypted, local: local) { add(finding) }
        }

        /// A volume's file on this host: the same checks as any host file; `refused` when it is
        /// not there or not to be overwritten.
        mutating func volumeIdentity(_ path: String, role: String) throws -> (FileIdentity?, refused: Bool) {
            guard local else { return (nil, false) }
            // Nothing there holds nothing (a recorded volume gone is named elsewhere).
            guard let found = try LinkSafePath.inspect(path) else { return (nil, true) }
            guard found.kind == S_IFREG, found.links == 1 else {
                refusedPaths.insert(path)
                notSanitized.append(.init(item: "\(role) \(path)", reason: found.kind == S_IFREG
                    ? "has \(found.links) hard links: overwriting it would overwrite another name's file too"
                    : "not a regular file (a symbolic link is not followed): lcm overwrites only regular files"))
                return (nil, true)
            }
            return (found.identity, false)
        }

        /// The desktop's volumes in its pool: the recorded ones and the default names.
        mutating func addVolumes(of name: String, desktopID id: Int64, settings: DesktopSettings, pool: StoragePool?,
                                 inventory: Inventory) throws {
            let recorded = try inventory.read { db in
                try Row.fetchAll(db, sql: "SELECT name, role, encrypted, discard FROM volume WHERE desktopID = ? ORDER BY id", arguments: [id])
            }
            for volumeName in try DesktopVolumes.allNames(desktopID: id, name: name, inventory: inventory) {
                guard volumeName.hasPrefix(name + "-") else {
                    throw LCMError(.conflict, "volume \(volumeName) is recorded for desktop \(name) but is not named after it",
                                   hint: "lcm only sanitizes what the desktop owns; check the volume rows")
                }
                let record = recorded.first { ($0["name"] as String?) == volumeName }
                guard let volume = try pool?.lookupVolume(name: volumeName) else {
                    // The default names are listed even without a row; only a recorded one is missed.
                    if let record {
                        notSanitized.append(.init(item: "\(record["role"] as String? ?? "volume") volume \(volumeName) in pool \(settings.pool) on \(settings.uri)",
                                                  reason: "recorded in the inventory but missing from the pool: whatever became of its data, lcm did not sanitize it"))
                    }
                    continue
                }
                let info = try volume.info()
                let role: String = record?["role"] ?? (volumeName == DesktopSettings.dataVolume(name) ? "data" : "os")
                let path = try volume.path
                let (identity, refused) = try volumeIdentity(path, role: role)
                if refused { continue }
                files.append(File(role: role, path: path, volume: volumeName,
                                  encrypted: record?["encrypted"] ?? settings.encrypted, discard: record?["discard"] ?? settings.discard,
                                  virtualBytes: info.capacity, allocatedBytes: info.allocation, identity: identity))
            }
        }

        /// What the domain writes besides the recorded volumes (disks, external snapshots, memory
        /// images, a managed save), taken or named as not sanitized; returns the definitions'
        /// NVRAM paths. `notWritten`: the golden files below the OS layer, never written.
        mutating func addDomainWrites(_ domain: Domain, of name: String, settings: DesktopSettings, pool: StoragePool?,
                                      notWritten: [String], connection: Connection) throws -> [String] {
            // Both definitions: a disk attached with --config only is in the inactive one, one
            // hot-plugged only in the running one.
            var definitions = [try domain.xmlDescription(flags: .inactive)]
            if try domain.isActive { definitions.append(try domain.xmlDescription()) }
            let nvramPaths = try definitions.compactMap { try DesktopDomain.nvramPath(inDomainXML: $0) }
            let storage = try RetirePlan.domainStorage(domainXMLs: definitions, snapshotXMLs: domain.snapshotXMLDescriptions())
            notSanitized += storage.elsewhere
            let recordedVolumes = Set(files.compactMap { $0.volume.map { "\(settings.pool)/\($0)" } })
            for volume in storage.volumes where !recordedVolumes.contains(volume) {
                notSanitized.append(.init(item: "volume \(volume) on \(settings.uri)",
                                          reason: "a disk of the domain that lcm did not record for this desktop: lcm did not sanitize it"))
            }
            // What the domain writes that lcm did not create: external snapshots (the disk then
            // writes to their overlay) and each snapshot's memory image (RAM, keys in clear).
            let known = Set(files.map(\.path) + notWritten).union(refusedPaths)
            for found in storage.files where !known.contains(found.path) {
                try addUnrecordedWrite(found, of: name, pool: pool)
            }
            if try domain.hasManagedSaveImage {
                for path in try HostFiles.list(directory: RetirePlan.managedSaveDirectory, connection: connection)
                where (path as NSString).lastPathComponent == "\(name).save" {
                    try addHostFile("managed-save", path)
                }
            }
            return nvramPaths
        }

        /// A file the domain writes that lcm did not record: taken when it is named after the
        /// desktop, otherwise named as not sanitized (it may be shared or another's).
        mutating func addUnrecordedWrite(_ found: DomainStorage.Found, of name: String, pool: StoragePool?) throws {
            let (path, role) = (found.path, found.role)
            guard role != "backing" else {
                notSanitized.append(.init(item: "backing file \(path)", reason: "in a disk's backing chain but outside lcm's records: "
                    + "it may hold the desktop's data from before its overlay, and may be shared, so lcm did not touch it"))
                return
            }
            guard (path as NSString).lastPathComponent.hasPrefix(name + "-") else {
                notSanitized.append(.init(item: "\(role) \(path)", reason: "the desktop writes to it, but lcm did not create it and it is not named after the desktop: "
                    + "lcm sanitizes only what the desktop owns"))
                return
            }
            let (identity, refused) = try volumeIdentity(path, role: role)
            if refused { return }
            let volume = try pool?.lookupVolume(name: (path as NSString).lastPathComponent).flatMap { try $0.path == path ? $0 : nil }
            let info = try volume?.info()
            files.append(File(role: role, path: path, volume: try volume?.name, encrypted: false, discard: nil,
                              virtualBytes: info?.capacity, allocatedBytes: info?.allocation, identity: identity))
        }
    }
}
