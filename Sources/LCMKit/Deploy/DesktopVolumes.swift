import Foundation
import GRDB
import Libvirt

/// Golden versions on devices' hosts: uploaded once per host through a libvirt stream, checked by
/// SHA-256 on the device's side, then only ever read (desktops' OS layers are overlays on them).
public enum HostImages {
    /// The pool volume name of a golden version: its content hash (a changed file never reuses
    /// an old upload) and its reference, for the admin reading `virsh vol-list`.
    public static func volumeName(reference: String, sha256: String) -> String {
        "golden-\(sha256.prefix(16))-\(reference.replacingOccurrences(of: ":", with: "@")).qcow2"
    }

    /// Makes sure `settings`' golden version is in the host's pool; returns its volume name and
    /// path on the device. Concurrent deploys to one host upload it once (a lock per volume).
    public static func ensure(_ settings: DesktopSettings, pool: StoragePool, inventory: Inventory,
                              progress: ProgressSink? = nil) throws -> (volume: String, path: String, uploaded: Bool) {
        let name = volumeName(reference: settings.imageReference, sha256: settings.imageSHA256)
        let poolName = try pool.name
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "host-image", id: "\(settings.uri)#\(poolName)/\(name)", timeout: 3600)
        defer { lock.unlock() }
        let recorded = try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT bytes, path FROM hostImage WHERE uri = ? AND pool = ? AND volume = ?",
                             arguments: [settings.uri, poolName, name])
        }
        var adopted: StorageVolume?
        if let existing = try pool.lookupVolume(name: name) {
            if let recorded, try existing.info().capacity == UInt64(recorded["bytes"] as Int64) {
                return (name, recorded["path"], false)
            }
            // In the pool but not recorded here: another lcm home's upload (finished, or still
            // going: desktops of that home may already stand on it) or a killed one. Only a copy
            // that no longer grows and hashes like the file is taken; anything else starts over.
            if try isCompleteCopy(existing, of: settings.imagePath, sha256: settings.imageSHA256) {
                adopted = existing
            } else {
                try existing.delete()
            }
        }
        let volume = try adopted ?? DeviceVolumes.importFile(settings.imagePath, as: name, into: pool, expectedSHA256: settings.imageSHA256,
                                                                  progress: progress)
        let path = try volume.path
        let bytes = try volume.info().capacity
        try inventory.write { db in
            try db.execute(sql: "DELETE FROM hostImage WHERE uri = ? AND pool = ? AND volume = ?", arguments: [settings.uri, poolName, name])
            try db.execute(sql: """
                INSERT INTO hostImage (uri, pool, volume, path, imageVersionID, sha256, bytes, uploadedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [settings.uri, poolName, name, path, settings.imageVersionID, settings.imageSHA256, Int64(bytes), Date()])
            try AuditLog.record(db, actor: inventory.actor, objectKind: "image", objectID: settings.imageReference,
                                action: adopted == nil ? "uploaded to host" : "found on host, same SHA-256", details: ["host": settings.uri, "volume": "\(poolName)/\(name)",
                                                                      "sha256": settings.imageSHA256])
        }
        return (name, path, adopted == nil)
    }

    /// Whether `volume` holds exactly the file at `path` (whose digest the version recorded), once
    /// it stopped growing (an upload by another lcm run may still be writing it: its allocation
    /// changes between two looks).
    static func isCompleteCopy(_ volume: StorageVolume, of path: String, sha256: String, patience: Double = 600) throws -> Bool {
        let deadline = Date().addingTimeInterval(patience)
        var last = try volume.info().allocation
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 2)
            guard let now = try? volume.info().allocation else { return false }
            if now == last { break }
            last = now
        }
        let bytes = try VolumeTransfer.localSize(path)
        guard let remote = try? VolumeTransfer.remoteHash(volume) else { return false }
        return remote.bytes == bytes && remote.sha256.hexString == sha256.lowercased()
    }
}

/// A desktop's two volumes in the device's pool.
public struct DesktopVolumeSet: Sendable {
    public var os: DiskVolume
    public var data: DiskVolume
    public var osPath: String
    public var dataPath: String
    /// LUKS secret UUID on the device (nil with --no-encrypt).
    public var secretUUID: String?
    /// This making of the volumes (recorded in their rows): a rerun that makes them again gives
    /// them a new one, so what personalized these can tell they are still the desktop's.
    public var generation = UUID().uuidString.lowercased()
}

public enum DesktopVolumes {
    /// Creates the OS layer (an overlay on the golden volume) and an empty user-data disk, both
    /// encrypted with the desktop's key unless the settings say otherwise, and records them.
    /// Existing volumes of the desktop are removed first: a rerun starts the layers over. Every
    /// local file made on the way is recorded with `recorder` before it exists, so a killed run's
    /// files are removed by whoever recovers the operation.
    public static func create(desktopID: Int64, name: String, settings: DesktopSettings, golden: (volume: String, path: String),
                              keyID: String?, pool: StoragePool, inventory: Inventory,
                              recorder: LeftoverRecorder? = nil) throws -> DesktopVolumeSet {
        try remove(desktopID: desktopID, name: name, pool: pool, inventory: inventory)
        let connection = pool.connection
        let poolName = try pool.name
        let osName = DesktopSettings.osVolume(name), dataName = DesktopSettings.dataVolume(name)
        // The user-data disk starts with its partition and NTFS volume, laid out on lcm's machine.
        try inventory.home.prepare()
        let layout = inventory.home.runURL.appendingPathComponent("userdata-\(UUID().uuidString.prefix(8)).raw").path
        var tokens: [LeftoverToken] = []
        defer {
            unlink(layout); unlink(layout + ".qcow2")
            for token in tokens { try? recorder?.release(token) }
        }
        // Another desktop of the batch may be killed while this one is writing its layout: its
        // scratch partition file is recorded too.
        for file in [layout, UserDataDisk.scratchPath(for: layout), layout + ".qcow2"] {
            if let token = try recorder?.record(.file(file)) { tokens.append(token) }
        }
        try UserDataDisk.writeBlankLayout(to: layout, virtualSize: settings.dataDiskBytes)
        recorder?.failPoints.hit(kind: "deploy-prepare", step: "layout-written", moment: .ran)
        var set: DesktopVolumeSet
        if let keyID {
            guard let key = try DesktopKey.find(id: keyID, inventory: inventory) else { throw LCMError.notFound("desktop key \(keyID)") }
            let made = try DeviceVolumes.createEncrypted([.init(name: osName, virtualSize: settings.osDiskBytes, backing: golden.volume),
                                                          .init(name: dataName, virtualSize: settings.dataDiskBytes, contents: layout)],
                                                         on: connection, pool: poolName, key: key, inventory: inventory,
                                                         recorder: recorder)
            let (os, data) = (made[0], made[1])
            set = DesktopVolumeSet(os: os.diskVolume, data: data.diskVolume, osPath: os.path, dataPath: data.path, secretUUID: os.secretUUID)
        } else {
            let os = try createPlain(osName, in: pool, virtualSize: settings.osDiskBytes, backing: golden.path)
            let local = layout + ".qcow2"
            try QemuImage.createPlain(path: local, virtualSize: settings.dataDiskBytes)
            try QemuImage.writeContents(of: layout, into: local, passphrase: nil)
            let data = try DeviceVolumes.importFile(local, as: dataName, into: pool)
            set = DesktopVolumeSet(os: .libvirt(uri: settings.uri, pool: poolName, volume: osName),
                                   data: .libvirt(uri: settings.uri, pool: poolName, volume: dataName),
                                   osPath: try os.path, dataPath: try data.path, secretUUID: nil)
        }
        // A remote OS layer is worked on through a download; the golden copy in the image store
        // stands in for its backing file so only the overlay travels.
        set.os.backingCopies = [golden.path: settings.imagePath]
        try inventory.write { db in
            for (role, volume, path, backing, size) in [("os", osName, set.osPath, Optional(golden.path), settings.osDiskBytes),
                                                        ("data", dataName, set.dataPath, nil, settings.dataDiskBytes)] {
                try db.execute(sql: """
                    INSERT INTO volume (desktopID, role, pool, name, path, format, encrypted, discard, createdAt, backing, virtualSize, generation)
                    VALUES (?, ?, ?, ?, ?, 'qcow2', ?, ?, ?, ?, ?, ?)
                    """, arguments: [desktopID, role, poolName, volume, path, keyID != nil, settings.discard, Date(), backing, Int64(size),
                                     set.generation])
            }
        }
        return set
    }

    static func createPlain(_ name: String, in pool: StoragePool, virtualSize: UInt64, backing: String?) throws -> StorageVolume {
        try pool.createVolume(xml: StorageVolumeDefinition(
            name: name, capacityBytes: virtualSize, allocationBytes: 0, format: "qcow2", mode: "0600",
            backing: backing.map { .init(path: $0, format: "qcow2") }).xml)
    }

    /// The desktop's user-data volume on its device, if it is there.
    static func dataVolume(of desktop: String, settings: DesktopSettings, on connection: Connection) throws -> StorageVolume? {
        try connection.lookupStoragePool(name: settings.pool)?.lookupVolume(name: DesktopSettings.dataVolume(desktop))
    }

    /// Every volume name the desktop has or may have in its pool: the two deploy makes and every
    /// one recorded (OS layers added by patches, a layer a killed patch run left pending).
    static func allNames(desktopID: Int64, name: String, inventory: Inventory) throws -> [String] {
        let recorded = try inventory.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM volume WHERE desktopID = ? ORDER BY id", arguments: [desktopID])
        }
        var names = [DesktopSettings.osVolume(name), DesktopSettings.dataVolume(name)]
        for volume in recorded where !names.contains(volume) { names.append(volume) }
        return names
    }

    /// Deletes the desktop's volumes from the pool and their rows (missing ones are fine); the
    /// newest layers first, as each backs the one above it.
    public static func remove(desktopID: Int64, name: String, pool: StoragePool, inventory: Inventory) throws {
        for volume in try allNames(desktopID: desktopID, name: name, inventory: inventory).reversed() {
            guard let found = try pool.lookupVolume(name: volume) else { continue }
            try VolumeDeletion.delete(found, name: volume, pool: try pool.name, why: "made again by a deploy rerun", inventory: inventory)
        }
        try inventory.write { db in
            try db.execute(sql: "DELETE FROM volume WHERE desktopID = ?", arguments: [desktopID])
            // Whatever was personalized is gone with them.
            try DesktopStore.setPersonalizedGeneration(db, id: desktopID, nil)
        }
    }
}
