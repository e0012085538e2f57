import Foundation
import GRDB
import Libvirt

/// A desktop's OS-layer stack. The inventory is the truth: volume rows with role `os` (the top,
/// which the domain boots), `os-layer` (older layers below it), `os-pending` (a layer a patch
/// run is making, not yet switched in) and `os-discarded` (a top a rollback has switched out, not
/// yet deleted). Switching in or out is one transaction (`commit`, `rollBack`), then the domain's
/// definition is brought in line (`alignDomain`); a run killed before the transaction leaves a
/// pending layer the next run deletes, one killed after it leaves a domain the next run aligns
/// (and a discarded layer it then deletes). Either way the desktop boots a complete layer.
enum OSLayers {
    /// The desktop a layer operation works on.
    struct Desktop: Sendable {
        var id: Int64
        var name: String
        var settings: DesktopSettings
        var keyID: String?
    }

    /// Roles of a desktop's OS layers, newest first by row id.
    static let top = "os", lower = "os-layer", pending = "os-pending", discarded = "os-discarded"

    /// Deletes pending layers a dead run left (volume and row) and aligns the domain with the
    /// recorded top and the media its staged items need. Returns what it did, for the report.
    static func recover(_ desktop: Desktop, connection: Connection, inventory: Inventory, failPoints: FailPoints) throws -> [String] {
        var notes: [String] = []
        let removed = try discardPending(desktop, connection: connection, inventory: inventory)
        if !removed.isEmpty { notes.append("removed the unfinished layer \(removed.joined(separator: ", ")) of an interrupted run") }
        let aligned = try alignDomain(desktop, connection: connection, inventory: inventory)
        if aligned.layer { notes.append("switched the domain to the OS layer an interrupted run had committed") }
        notes += aligned.missingMedia.map(missingMediumNote)
        let deleted = try deleteDiscarded(desktop, connection: connection, inventory: inventory, failPoints: failPoints)
        if !deleted.isEmpty { notes.append("deleted the rolled-back layer \(deleted.joined(separator: ", ")) of an interrupted run") }
        return notes
    }

    static func missingMediumNote(_ medium: String) -> String {
        "patch medium \(medium) is gone from the device and from $LCM_HOME: the items staged on it cannot run until they are patched again"
    }

    /// Makes an empty layer on top of the current one (encrypted with the desktop's key unless
    /// it was deployed without encryption) and records it as pending before it exists.
    static func createPending(_ desktop: Desktop, connection: Connection, inventory: Inventory) throws -> DiskVolume {
        let (current, count) = try inventory.read { db -> (Row?, Int) in
            (try Row.fetchOne(db, sql: "SELECT name, path FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, top]),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM volume WHERE desktopID = ? AND role IN (?, ?)",
                              arguments: [desktop.id, top, lower]) ?? 0)
        }
        guard let current, let currentPath = current["path"] as String? else {
            throw LCMError(.conflict, "desktop \(desktop.name) has no OS layer recorded", hint: "finish its deployment first (lcm deploy ...)")
        }
        let pool = try DeviceStoragePool.open(named: desktop.settings.pool, on: connection)
        var number = count + 1
        while try pool.lookupVolume(name: layerName(desktop.name, number)) != nil { number += 1 }
        let name = layerName(desktop.name, number)
        try inventory.write { db in
            try db.execute(sql: """
                INSERT INTO volume (desktopID, role, pool, name, format, encrypted, discard, createdAt, backing, virtualSize)
                VALUES (?, ?, ?, ?, 'qcow2', ?, ?, ?, ?, ?)
                """, arguments: [desktop.id, pending, desktop.settings.pool, name, desktop.keyID != nil, desktop.settings.discard,
                                 Date(), currentPath, Int64(desktop.settings.osDiskBytes)])
        }
        let made: (volume: DiskVolume, path: String)
        if let keyID = desktop.keyID {
            guard let key = try DesktopKey.find(id: keyID, inventory: inventory) else { throw LCMError.notFound("desktop key \(keyID)") }
            let volume = try DeviceVolumes.createEncrypted(name: name, on: connection, pool: desktop.settings.pool,
                                                           backing: current["name"], key: key, inventory: inventory)
            made = (volume.diskVolume, volume.path)
        } else {
            let volume = try DesktopVolumes.createPlain(name, in: pool, virtualSize: desktop.settings.osDiskBytes, backing: currentPath)
            made = (.libvirt(uri: desktop.settings.uri, pool: desktop.settings.pool, volume: name), try volume.path)
        }
        try inventory.write { db in
            try db.execute(sql: "UPDATE volume SET path = ? WHERE desktopID = ? AND name = ?", arguments: [made.path, desktop.id, name])
        }
        var volume = made.volume
        // A remote layer is worked on through a download: the golden copy in the image store
        // stands in for the golden volume, so only the desktop's own layers travel.
        if let golden = try goldenPath(desktop, inventory: inventory) { volume.backingCopies = [golden: desktop.settings.imagePath] }
        return volume
    }

    static func layerName(_ desktop: String, _ number: Int) -> String { "\(desktop)-os-\(number).qcow2" }

    /// Switches the pending layer in: it becomes the top, the old top a lower layer, and
    /// `records` (the patch rows) are written in the same transaction.
    static func commit(_ desktop: Desktop, inventory: Inventory, records: (Database) throws -> Void) throws {
        try inventory.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, pending]) == 1 else {
                throw LCMError(.failure, "desktop \(desktop.name) has no single pending OS layer to switch in")
            }
            try db.execute(sql: "UPDATE volume SET role = ? WHERE desktopID = ? AND role = ?", arguments: [lower, desktop.id, top])
            try db.execute(sql: "UPDATE volume SET role = ? WHERE desktopID = ? AND role = ?", arguments: [top, desktop.id, pending])
            try records(db)
        }
    }

    /// Deletes the desktop's pending layers (volume, then row); returns their names.
    @discardableResult
    static func discardPending(_ desktop: Desktop, connection: Connection, inventory: Inventory) throws -> [String] {
        let names = try inventory.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, pending])
        }
        guard !names.isEmpty else { return [] }
        if let pool = try connection.lookupStoragePool(name: desktop.settings.pool) {
            for name in names {
                guard let volume = try pool.lookupVolume(name: name) else { continue }
                try VolumeDeletion.delete(volume, name: name, pool: desktop.settings.pool, why: "an unfinished patch layer", inventory: inventory)
            }
        }
        try inventory.write { db in
            try db.execute(sql: "DELETE FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, pending])
        }
        return names
    }

    /// What `rollBack` switched: the layer switched out and deleted, the one the desktop boots
    /// now, and the patch items that went with the old one.
    struct Rollback: Sendable {
        var from: String
        var to: String
        var itemsRolledBack: [String]
    }

    /// Switches the top out and the layer under it in, in one transaction: the old top becomes
    /// `discarded` and the patch items written into it `rolled-back`. Then the domain is aligned
    /// (boot disk, and the patch media its still-staged items need) and the old top deleted.
    /// Only OS layers move: the user-data disk, NVRAM and TPM state stay as they are.
    static func rollBack(_ desktop: Desktop, connection: Connection, inventory: Inventory, runID: String,
                         failPoints: FailPoints) throws -> Rollback {
        let rollback = try inventory.write { db -> Rollback in
            let layers = try Row.fetchAll(db, sql: "SELECT id, name, role FROM volume WHERE desktopID = ? AND role IN (?, ?) ORDER BY id DESC",
                                          arguments: [desktop.id, top, lower])
            guard let current = layers.first, current["role"] as String == top else {
                throw LCMError(.conflict, "desktop \(desktop.name) has no OS layer recorded", hint: "finish its deployment first (lcm deploy ...)")
            }
            guard layers.count >= 2 else {
                throw noEarlierLayer(desktop.name)
            }
            let from: String = current["name"], to: String = layers[1]["name"]
            let items = try String.fetchAll(db, sql: "SELECT file FROM patchItem WHERE desktopID = ? AND layer = ? ORDER BY id",
                                            arguments: [desktop.id, from])
            try db.execute(sql: "UPDATE patchItem SET state = ?, detail = ? WHERE desktopID = ? AND layer = ?",
                           arguments: [PatchItemState.rolledBack.rawValue, "its OS layer \(from) was rolled back", desktop.id, from])
            try db.execute(sql: "UPDATE volume SET role = ? WHERE id = ?", arguments: [discarded, current["id"] as Int64])
            try db.execute(sql: "UPDATE volume SET role = ? WHERE id = ?", arguments: [top, layers[1]["id"] as Int64])
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: desktop.name, action: "rolled back",
                                details: ["from": from, "to": to, "items": items.joined(separator: ", "), "run": runID])
            return Rollback(from: from, to: to, itemsRolledBack: items)
        }
        failPoints.hit(kind: "rollback", step: "switched", moment: .recorded)
        try alignDomain(desktop, connection: connection, inventory: inventory)
        try deleteDiscarded(desktop, connection: connection, inventory: inventory, failPoints: failPoints)
        return rollback
    }

    static func noEarlierLayer(_ name: String) -> LCMError {
        LCMError(.conflict, "desktop \(name) has only the OS layer it was deployed with: there is no earlier layer to roll back to",
                 hint: "`lcm manage status \(name)` shows its layers")
    }

    /// Deletes discarded layers (volume, then row) that the domain no longer names, running or
    /// not. A plain layer is overwritten with zeros through a libvirt stream and read back first
    /// (libvirt's own volume wipe only truncates a sparse file); an encrypted one has its LUKS
    /// header erased and its keyslot copy marked destroyed (`VolumeDeletion`), so a later
    /// retirement accounts for it. Returns their names.
    @discardableResult
    static func deleteDiscarded(_ desktop: Desktop, connection: Connection, inventory: Inventory, failPoints: FailPoints) throws -> [String] {
        let rows = try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, path, encrypted FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, discarded])
        }
        guard !rows.isEmpty else { return [] }
        var named: Set<String> = []
        if let domain = try connection.lookupDomain(name: desktop.name) {
            var definitions = [try domain.xmlDescription(flags: [.inactive])]
            if try domain.isActive { definitions.append(try domain.xmlDescription(flags: [])) }
            for xml in definitions {
                named.formUnion(try DomainDefinition(xml: xml, what: "the domain's XML").devices.disks.flatMap(\.layerFiles))
            }
        }
        let pool = try connection.lookupStoragePool(name: desktop.settings.pool)
        var deleted: [String] = []
        for row in rows {
            let path: String? = row["path"]
            if let path, named.contains(path) { continue }
            if let volume = try pool?.lookupVolume(name: row["name"]) {
                if !(row["encrypted"] as Bool) { try overwrite(volume, name: row["name"], failPoints: failPoints) }
                try VolumeDeletion.delete(volume, name: row["name"], pool: desktop.settings.pool, why: "rolled back", inventory: inventory)
            }
            try inventory.write { db in try db.execute(sql: "DELETE FROM volume WHERE id = ?", arguments: [row["id"] as Int64]) }
            deleted.append(row["name"])
        }
        return deleted
    }

    private static func overwrite(_ volume: StorageVolume, name: String, failPoints: FailPoints) throws {
        let target = try StreamWipeTarget(volume: volume)
        _ = try Overwriter.overwrite(target, with: .constant(0))
        let check = try Overwriter.verify(target, against: .constant(0))
        guard check.passed else {
            throw LCMError(.unavailable, "the rolled-back layer \(name) did not read back as zeros after its overwrite (first difference at byte \(check.firstMismatch ?? 0))",
                           hint: "it is kept; the next rollback or patch run of the desktop tries again")
        }
        failPoints.hit(kind: "rollback", step: "discarded-overwritten", moment: .ran)
    }

    /// The golden volume's path on the device (the backing of the lowest layer).
    static func goldenPath(_ desktop: Desktop, inventory: Inventory) throws -> String? {
        try inventory.read { db in
            try String.fetchOne(db, sql: "SELECT backing FROM volume WHERE desktopID = ? AND role IN (?, ?) ORDER BY id LIMIT 1",
                                arguments: [desktop.id, top, lower])
        }
    }

    /// The boot disk as the domain must name it: the recorded top with, when the desktop has
    /// more than one layer, every layer below spelled out (libvirt cannot find the secret of an
    /// encrypted backing file by itself).
    static func bootDisk(_ desktop: Desktop, connection: Connection, inventory: Inventory) throws -> DesktopDomain.Disk {
        let rows = try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT path, encrypted, backing FROM volume WHERE desktopID = ? AND role IN (?, ?) ORDER BY id DESC",
                             arguments: [desktop.id, top, lower])
        }
        guard let first = rows.first, let topPath = first["path"] as String? else {
            throw LCMError(.conflict, "desktop \(desktop.name) has no OS layer recorded")
        }
        var secret: String?
        if let keyID = desktop.keyID, rows.contains(where: { $0["encrypted"] as Bool }) {
            guard let key = try DesktopKey.find(id: keyID, inventory: inventory) else { throw LCMError.notFound("desktop key \(keyID)") }
            secret = try key.installSecret(on: connection, inventory: inventory)
        }
        var chain: [DesktopDomain.Layer] = []
        if rows.count > 1 {
            chain = rows.dropFirst().map { DesktopDomain.Layer(path: $0["path"], luksSecretUUID: ($0["encrypted"] as Bool) ? secret : nil) }
            if let golden = rows.last?["backing"] as String? { chain.append(DesktopDomain.Layer(path: golden)) }
        }
        let bus = desktop.settings.storageBus
        return DesktopDomain.Disk(path: topPath, bus: bus, luksSecretUUID: (first["encrypted"] as Bool) ? secret : nil,
                                  discard: desktop.settings.discard, backingChain: chain)
    }

    /// What `alignDomain` changed.
    struct Alignment { var layer = false, media = false, missingMedia: [String] = [] }

    /// Redefines the domain when its boot disk is not the recorded top, or its patch media are not
    /// the ones its staged items need (`PatchMedium`).
    @discardableResult
    static func alignDomain(_ desktop: Desktop, connection: Connection, inventory: Inventory) throws -> Alignment {
        var result = Alignment()
        guard let domain = try connection.lookupDomain(name: desktop.name) else { return result }
        let (layerPaths, media) = try inventory.read { db in
            // A discarded top is still the one the domain may name, until it is aligned.
            (try String.fetchAll(db, sql: "SELECT path FROM volume WHERE desktopID = ? AND role IN (?, ?, ?) AND path IS NOT NULL",
                                 arguments: [desktop.id, top, lower, discarded]),
             try PatchMedium.needed(desktopID: desktop.id, db))
        }
        let disk = try bootDisk(desktop, connection: connection, inventory: inventory)
        var xml = try domain.xmlDescription(flags: [.inactive, .secure])
        if let edited = try replacingOSDisk(in: xml, layerPaths: Set(layerPaths), with: disk) {
            xml = edited
            result.layer = true
        }
        let found = try PatchMedium.paths(for: media, on: connection, pool: desktop.settings.pool, inventory: inventory)
        result.missingMedia = found.missing
        if let edited = try PatchMedium.replacingMedia(in: xml, wanted: found.paths) {
            xml = edited
            result.media = true
        }
        if result.layer || result.media { _ = try connection.defineDomain(xml: xml) }
        return result
    }

    /// The domain XML with the `<disk>` that boots one of `layerPaths` pointed at `disk` (path,
    /// secret, backing chain; its target, address, boot order and all else kept); nil when it already is.
    static func replacingOSDisk(in xml: String, layerPaths: Set<String>, with disk: DesktopDomain.Disk) throws -> String? {
        var document = try XMLTree.parse(xml, what: "the domain's XML")
        guard var devices = document.child(DomainDevices.elementName) else {
            throw LCMError(.failure, "the domain's XML has no <devices>")
        }
        guard let index = try devices.children.firstIndex(where: { node in
            guard let element = node.asElement, element.name == DiskDefinition.elementName,
                  let file = try DiskDefinition(element: element).source?.file else { return false }
            return layerPaths.contains(file)
        }), case .element(var element) = devices.children[index] else {
            throw LCMError(.conflict, "the domain has no disk on the desktop's OS layer",
                           hint: "its definition was changed outside lcm; redeploy or fix the <disk> element")
        }
        // Compared by what matters (each layer's file and secret), not by text: libvirt writes
        // the same element back with other quoting and spacing.
        let wanted = [LayerReference(file: disk.path, secret: disk.luksSecretUUID?.lowercased())]
            + disk.backingChain.map { LayerReference(file: $0.path, secret: $0.luksSecretUUID?.lowercased()) }
        if layers(of: try DiskDefinition(element: element)) == wanted { return nil }
        let storage = try DesktopDomain.diskDefinition(disk, target: "").storageElements
        element.removeChildren { $0.name == "source" || $0.name == "backingStore" }
        let driverIndex = (element.children.firstIndex { $0.asElement?.name == "driver" } ?? -1) + 1
        element.children.insert(contentsOf: storage.map(XMLTree.Node.element), at: driverIndex)
        devices.children[index] = .element(element)
        document.replaceChildren { $0.name == DomainDevices.elementName ? devices : nil }
        return document.xmlString
    }

    /// The disk's layers as the XML names them, top first: file and LUKS secret of the source,
    /// then of each `<backingStore>` that names a file, up to the first that does not.
    struct LayerReference: Equatable { var file: String; var secret: String? }

    static func layers(of disk: DiskDefinition) -> [LayerReference] {
        var result: [LayerReference] = []
        for source in [disk.source] + disk.backingChain.map(\.source) {
            guard let file = source?.file else { break }
            result.append(LayerReference(file: file, secret: source?.encryption?.secretUUID?.lowercased()))
        }
        return result
    }
}
