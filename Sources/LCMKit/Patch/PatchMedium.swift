import Archive
import Crypto
import Foundation
import GRDB
import Libvirt

/// The patch medium: one read-only ISO per patch set holding its staged files (the .msu, .msi,
/// scripts), uploaded once to each host's pool and attached as a CD-ROM to every desktop whose
/// boot queue still needs it. Each desktop's OS layer then gets only placeholders, the manifest
/// and the runner (bytes, not the update's hundreds of megabytes): copying a file through the
/// appliance's NTFS driver was the dominant per-desktop cost of a patch run, and N copies of the
/// same update in N layers were N times its size on the device.
///
/// The medium's id comes from its files' hashes and names, so the same set makes the same medium
/// (a queued patch applied later, a rerun) and a different set never reuses it. Its files sit in
/// a directory named after the id, which is how the runner tells media apart.
public enum PatchMedium {
    /// Volume label of every patch medium (what Explorer shows on the CD drive).
    static let volumeLabel = "LCM_PATCH"
    /// Pool volumes and directories of patch media start with this.
    static let prefix = "lcm-patch-"

    /// `lcm-patch-<16 hex>` for the staged files of `set`; nil when it stages nothing.
    public static func id(for set: PatchSet) -> String? {
        let staged = zip(set.items, set.sources).filter { !$0.0.appliedOffline }
        guard !staged.isEmpty else { return nil }
        var hasher = SHA256()
        for (item, _) in staged { hasher.update(data: Data("\(item.sha256) \(item.kind.rawValue) \(item.file)\n".utf8)) }
        return prefix + String(Array(hasher.finalize()).hexString.prefix(16))
    }

    static func volumeName(_ id: String) -> String { id + ".iso" }

    /// Where lcm keeps its own copy of the media images: `$LCM_HOME/patches/media`.
    static func mediaDirectory(_ home: LCMHome) -> URL { home.url.appendingPathComponent("patches/media") }

    /// lcm's own copy of a medium's image.
    static func imageURL(id: String, home: LCMHome) -> URL { mediaDirectory(home).appendingPathComponent(volumeName(id)) }

    /// The medium's image under `$LCM_HOME/patches/media`, written first if it is not there
    /// (the writer puts it in place only when complete). `set` must be `onMedium`.
    static func image(for set: PatchSet, id: String, home: LCMHome) throws -> URL {
        let directory = mediaDirectory(home)
        let image = imageURL(id: id, home: home)
        if FileManager.default.fileExists(atPath: image.path) { return image }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let entries = set.mediumFiles.map { ISOImageWriter.Entry.file(URL(fileURLWithPath: $0.source), at: $0.path) }
        do {
            try ISOImageWriter(volumeLabel: volumeLabel, filePermissions: 0o600).write(entries, to: image)
        } catch {
            throw LCMError(.cannotWrite, "cannot write the patch medium \(image.path): \(LCMError.reason(error))", hint: "check the free space in $LCM_HOME")
        }
        return image
    }

    /// Makes sure the medium is in the pool of `connection`'s host (uploaded through a libvirt
    /// stream and checked by SHA-256 when it is not); returns its path there. Only an upload that
    /// was checked is recorded, so a volume without its row (a killed upload) is made again,
    /// unless a domain names it: then it is another lcm home's medium of the same files (media of
    /// one set differ only in their timestamps), attached after its own checked upload, and
    /// deleting it would take it from under that home's desktops. It is used as it is.
    static func ensure(_ id: String, image: URL, on connection: Connection, pool poolName: String, inventory: Inventory) throws -> String {
        let name = volumeName(id), uri = try connection.uri
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "patch-medium", id: "\(uri)#\(poolName)/\(name)", timeout: 3600)
        defer { lock.unlock() }
        let pool = try DeviceStoragePool.open(named: poolName, on: connection)
        let bytes = (try FileManager.default.attributesOfItem(atPath: image.path)[.size] as? NSNumber)?.int64Value ?? -1
        let recorded = try inventory.read { db in
            try Int64.fetchOne(db, sql: "SELECT bytes FROM hostMedium WHERE uri = ? AND pool = ? AND volume = ?", arguments: [uri, poolName, name])
        }
        func record(_ bytes: Int64) throws {
            try inventory.write { db in
                try db.execute(sql: "DELETE FROM hostMedium WHERE uri = ? AND pool = ? AND volume = ?", arguments: [uri, poolName, name])
                try db.execute(sql: "INSERT INTO hostMedium (uri, pool, volume, bytes, uploadedAt) VALUES (?, ?, ?, ?, ?)",
                               arguments: [uri, poolName, name, bytes, Date()])
            }
        }
        if let existing = try pool.lookupVolume(name: name) {
            if recorded == bytes, try existing.info().capacity == UInt64(bytes) { return try existing.path }
            let path = try existing.path
            if try mediaInUse(on: connection).contains(path) {
                try record(Int64(try existing.info().capacity))
                return path
            }
            try existing.delete()
        }
        let path = try DeviceVolumes.importFile(image.path, as: name, into: pool).path
        try record(bytes)
        return path
    }

    /// Media the desktop's boot queue still needs: those of its items staged and not yet run.
    static func needed(desktopID: Int64, _ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT DISTINCT medium FROM patchItem WHERE desktopID = ? AND state = ? AND medium IS NOT NULL ORDER BY medium
            """, arguments: [desktopID, PatchItemState.staged.rawValue])
    }

    /// Paths on the desktop's host of the media it needs. A medium gone from the host is uploaded
    /// again from `$LCM_HOME`; one gone from both is left out and named in `missing`.
    static func paths(for ids: [String], on connection: Connection, pool poolName: String, inventory: Inventory) throws -> (paths: [String], missing: [String]) {
        var paths: [String] = [], missing: [String] = []
        let pool = try DeviceStoragePool.open(named: poolName, on: connection)
        for id in ids {
            if let volume = try pool.lookupVolume(name: volumeName(id)) {
                paths.append(try volume.path)
                continue
            }
            let cached = imageURL(id: id, home: inventory.home)
            if FileManager.default.fileExists(atPath: cached.path) {
                paths.append(try ensure(id, image: cached, on: connection, pool: poolName, inventory: inventory))
            } else {
                missing.append(id)
            }
        }
        return (paths, missing)
    }

    /// Deletes the patch media in `pool` that no domain on the host names any more (volume, then
    /// record), and the images in `$LCM_HOME` that no item needs or may need again.
    @discardableResult
    static func prune(on connection: Connection, pool poolName: String, inventory: Inventory) throws -> [String] {
        guard let pool = try connection.lookupStoragePool(name: poolName) else { return [] }
        let uri = try connection.uri
        let referenced = try mediaInUse(on: connection)
        var removed: [String] = []
        for volume in try pool.listAllVolumes() {
            let name = try volume.name
            guard name.hasPrefix(prefix), name.hasSuffix(".iso"), !referenced.contains(try volume.path) else { continue }
            try volume.delete()
            try inventory.write { db in
                try db.execute(sql: "DELETE FROM hostMedium WHERE uri = ? AND pool = ? AND volume = ?", arguments: [uri, poolName, name])
            }
            removed.append(name)
        }
        // lcm's own copy stays while an item needs it, or may need it again: one that ran in a
        // layer now under the top is staged again if a rollback brings that layer back.
        let needed = Set(try inventory.read { db in try DesktopReports.neededPatchMedia(db, lowerRole: OSLayers.lower) })
        let media = mediaDirectory(inventory.home)
        for file in (try? FileManager.default.contentsOfDirectory(atPath: media.path)) ?? []
        where file.hasPrefix(prefix) && file.hasSuffix(".iso") && !needed.contains(String(file.dropLast(4))) {
            try? FileManager.default.removeItem(at: media.appendingPathComponent(file))
        }
        return removed
    }

    // MARK: Domain XML

    /// Paths of the patch media the domain XML attaches.
    /// Paths of the patch media any domain on the host names, defined or running, whichever lcm
    /// home made it.
    static func mediaInUse(on connection: Connection) throws -> Set<String> {
        var referenced: Set<String> = []
        for domain in try connection.listAllDomains() {
            for flags: DomainXMLFlags in [[.inactive], []] {
                guard let xml = try? domain.xmlDescription(flags: flags) else { continue }
                referenced.formUnion(try attachedMedia(in: xml))
            }
        }
        return referenced
    }

    public static func attachedMedia(in xml: String) throws -> [String] {
        let domain = try DomainDefinition(xml: xml, what: "the domain's XML")
        return domain.devices.disks.filter(isMedium).compactMap { $0.source?.file }
    }

    /// The domain XML with exactly `wanted` attached as read-only SATA CD-ROMs among its patch
    /// media (other disks and everything lcm does not own untouched); nil when it already is.
    static func replacingMedia(in xml: String, wanted: [String]) throws -> String? {
        var document = try XMLTree.parse(xml, what: "the domain's XML")
        guard var devices = document.child("devices") else {
            throw LCMError(.failure, "the domain's XML has no <devices>")
        }
        var changed = false
        var attached: Set<String> = []
        var kept: [XMLTree.Node] = []
        for node in devices.children {
            if case .element(let element) = node, element.name == DiskDefinition.elementName {
                let disk = try DiskDefinition(element: element)
                if isMedium(disk), let file = disk.source?.file {
                    guard wanted.contains(file) && !attached.contains(file) else {
                        changed = true
                        continue
                    }
                    attached.insert(file)
                }
            }
            kept.append(node)
        }
        devices.children = kept
        var targets = Set(try DiskDefinition.decodeAll(devices).compactMap { $0.target?.device })
        var index = 0
        for path in wanted where !attached.contains(path) {
            while targets.contains("sd" + DesktopDomain.driveLetters(index)) { index += 1 }
            let target = "sd" + DesktopDomain.driveLetters(index)
            targets.insert(target)
            // After the last <disk>: libvirt wants disks together, and keeps their order.
            devices.insert(cdrom(path: path, target: target).element, afterLast: DiskDefinition.elementName)
            changed = true
        }
        guard changed else { return nil }
        document.replaceChildren { $0.name == DomainDevices.elementName ? devices : nil }
        return document.xmlString
    }

    /// A patch medium as the domain names it: a read-only SATA CD-ROM.
    static func cdrom(path: String, target: String) -> DiskDefinition {
        DiskDefinition(device: "cdrom", driver: .init(format: "raw"), source: DiskSource(file: path),
                       target: .init(device: target, bus: "sata"), readonly: true)
    }

    /// A CD-ROM whose file is a patch medium.
    private static func isMedium(_ disk: DiskDefinition) -> Bool {
        guard disk.device == "cdrom", let file = disk.source?.file else { return false }
        let name = URL(fileURLWithPath: file).lastPathComponent
        return name.hasPrefix(prefix) && name.hasSuffix(".iso")
    }
}
