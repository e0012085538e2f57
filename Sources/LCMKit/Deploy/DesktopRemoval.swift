import Foundation
import GRDB
import Libvirt

/// What `lcm deploy --undo` removed.
public struct RemovalReport: Codable, Sendable {
    public var desktop: String
    public var domain: String?
    public var volumes: [String] = []
    public var keyCopiesDestroyed: Int = 0
    public var seatsReleased: Int = 0
    public var notes: [String] = []
}

/// Removes a desktop completely: domain (with its NVRAM and TPM state), volumes, key (libvirt
/// secrets and escrow), seat, assignment and rows. Used by `lcm deploy --undo` and by a deploy run
/// for a desktop it created and could not finish. Safe to repeat: each part may already be gone.
public struct DesktopRemoval {
    public let inventory: Inventory

    public init(inventory: Inventory) { self.inventory = inventory }

    /// Refuses a desktop whose user-data disk may hold the user's files (it ran, or data was
    /// migrated onto it) unless `discardUserData`.
    @discardableResult
    public func remove(_ name: String, discardUserData: Bool, reason: String) throws -> RemovalReport {
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "desktop", id: name, timeout: 60)
        defer { lock.unlock() }
        guard let row = try inventory.read({ db in
            try Row.fetchOne(db, sql: """
                SELECT d.id, d.stage, d.status, d.settings, d.keyID, d.domainUUID, v.libvirtURI AS uri
                FROM desktop d LEFT JOIN device v ON v.id = d.deviceID WHERE d.name = ?
                """, arguments: [name])
        }) else {
            throw LCMError.notFound("desktop \(name)", hint: "`lcm manage status` lists the desktops")
        }
        let id: Int64 = row["id"]
        let settings = (row["settings"] as String?).flatMap { try? JSONDecoder().decode(DesktopSettings.self, from: Data($0.utf8)) }
        let stage = (row["stage"] as String?).flatMap(DeployStage.init(rawValue:))
        let holdsUserData = stage == .complete && settings?.start == true || settings?.migrateArchive != nil && (stage ?? .recorded) >= .personalized
        if holdsUserData && !discardUserData {
            throw LCMError(.conflict, "desktop \(name) may hold its user's data on \(DesktopSettings.dataVolume(name))",
                           hint: "back it up first, then confirm with --discard-user-data")
        }
        var report = RemovalReport(desktop: name)
        let deviceURI: String? = row["uri"]
        if let uri = settings?.uri ?? deviceURI {
            let connection = try Connection(uri: uri)
            if let domain = try connection.lookupDomain(name: name) {
                if try domain.isActive { try domain.destroy() }
                try domain.undefine(removeNVRAM: true, removeTPMState: true)
                report.domain = name
            }
            if let pool = try connection.lookupStoragePool(name: DeviceStoragePool.name) {
                for volume in [DesktopSettings.osVolume(name), DesktopSettings.dataVolume(name)] {
                    if let found = try pool.lookupVolume(name: volume) {
                        try found.delete()
                        report.volumes.append(volume)
                    }
                }
            }
        } else {
            report.notes.append("no device URI recorded: nothing on a device to remove")
        }
        if let keyID = row["keyID"] as String? {
            let destroyed = try DesktopKey.destroyAll(keyID: keyID, inventory: inventory)
            report.keyCopiesDestroyed = destroyed.items.filter { $0.outcome == .destroyed }.count
            if !destroyed.complete { report.notes.append("some copies of the desktop's key could not be destroyed: see `lcm inventory events`") }
        }
        try inventory.write { db in
            report.seatsReleased = try Licenses.releaseSeats(db, desktopID: id, actor: inventory.actor)
            try DeployRecords.delete(db, desktopID: id, actor: inventory.actor)
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: name, action: "removed",
                                details: ["reason": reason, "volumes": report.volumes.joined(separator: ",")])
        }
        return report
    }
}
