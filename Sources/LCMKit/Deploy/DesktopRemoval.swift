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
    let context: LCMContext
    public let inventory: Inventory

    public init(context: LCMContext) throws { self.init(context: context, inventory: try context.inventory()) }

    init(context: LCMContext, inventory: Inventory) { self.context = context; self.inventory = inventory }

    /// Refuses a desktop whose user-data disk may hold the user's files (it ran, or data was
    /// migrated onto it) unless `discardUserData`. `holding` is the desktop's lock when the caller
    /// (a deploy run) already holds it.
    @discardableResult
    public func remove(_ name: String, discardUserData: Bool, reason: String, holding held: FileLock? = nil) throws -> RemovalReport {
        let lock = try ObjectLock.acquire(unlessHeld: held, home: inventory.home, kind: "desktop", id: name, timeout: 60)
        defer { lock?.unlock() }
        guard let found = try inventory.read({ db -> (Desktop, String?)? in
            guard let desktop = try DesktopStore.find(db, name: name) else { return nil }
            return (desktop, try desktop.deviceID.flatMap { try Device.fetchOne(db, key: $0) }?.libvirtURI)
        }) else {
            throw LCMError.notFound("desktop \(name)", hint: "`lcm manage status` lists the desktops")
        }
        let (desktop, deviceURI) = found
        let id = desktop.id!
        // Retirement already destroyed (or is destroying) what removal would: its rows are the
        // certificate's history and stay.
        if desktop.status.isHistory {
            let status = desktop.status
            throw LCMError(.conflict, "desktop \(name) is \(status.rawValue): its records stay as the history of its retirement",
                           hint: status == .retiring ? "finish it: lcm retire \(name) --yes" : "`lcm retire certificate \(name)` shows what was done to it")
        }
        let settings = desktop.settings, stage = desktop.stage
        let connection = try (settings?.uri ?? deviceURI).map { try context.connect($0) }
        if !discardUserData, let reason = try userDataReason(desktopID: id, name: name, stage: stage, settings: settings, connection: connection) {
            throw LCMError(.conflict, "desktop \(name) may hold its user's data on \(DesktopSettings.dataVolume(name)): \(reason)",
                           hint: "back it up first, then confirm with --discard-user-data")
        }
        var report = RemovalReport(desktop: name)
        if let connection {
            if let domain = try connection.lookupDomain(name: name) {
                if try domain.isActive { try domain.destroy() }
                try domain.undefine(removeNVRAM: true, removeTPMState: true)
                report.domain = name
            }
            if let pool = try connection.lookupStoragePool(name: settings?.pool ?? DeviceStoragePool.name) {
                for volume in try DesktopVolumes.allNames(desktopID: id, name: name, inventory: inventory).reversed() {
                    if let found = try pool.lookupVolume(name: volume) {
                        try VolumeDeletion.delete(found, name: volume, pool: try pool.name, why: reason, inventory: inventory)
                        report.volumes.append(volume)
                    }
                }
            }
        } else {
            report.notes.append("no device URI recorded: nothing on a device to remove")
        }
        if let keyID = desktop.keyID {
            let destroyed = try DesktopKey.destroyAll(keyID: keyID, inventory: inventory, connect: context.connections.connect)
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

    /// Why the desktop's user-data disk may hold data nobody has confirmed to lose, or nil. Only
    /// a desktop that never ran, got no migrated data, and whose data disk has not grown since
    /// deploy handed it over is known to hold none.
    func userDataReason(desktopID: Int64, name: String, stage: DeployStage?, settings: DesktopSettings?, connection: Connection?) throws -> String? {
        guard let stage, stage >= .personalized else { return nil }
        if settings?.migrateArchive != nil { return "data was migrated onto it" }
        guard stage == .complete else { return nil }
        if settings?.start == true { return "it was started" }
        guard let connection, let settings else { return "its device cannot be asked" }
        if let domain = try connection.lookupDomain(name: name), try domain.isActive { return "it is running" }
        let deployed = try inventory.read { db in
            try Int64.fetchOne(db, sql: "SELECT deployedAllocation FROM volume WHERE desktopID = ? AND role = 'data'", arguments: [desktopID])
        }
        guard let deployed else { return "its size at deploy time is unknown" }
        guard let volume = try DesktopVolumes.dataVolume(of: name, settings: settings, on: connection) else { return nil }
        let now = try volume.info().allocation
        return now > UInt64(deployed) ? "it has grown by \(ByteSize.format(now - UInt64(deployed))) since deploy (it was used)" : nil
    }
}
