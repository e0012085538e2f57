import Foundation
import GRDB
import Libvirt

/// What `lcm manage status` shows for one desktop: the inventory's view next to libvirt's.
public struct DesktopStatusReport: Codable, Sendable {
    public struct Disk: Codable, Sendable {
        public var role: String
        public var volume: String
        public var path: String?
        public var format: String?
        public var encryption: String?
        /// The backing chain below the volume, nearest first (the golden version for the OS layer).
        public var backingChain: [String]
        public var virtualSize: UInt64?
        public var allocation: UInt64?
        public var present: Bool
    }

    public var desktop: String
    public var device: String?
    public var uri: String?
    public var user: String?
    public var status: String
    public var stage: String?
    public var image: String?
    /// libvirt's domain state ("running", "shut off", ...) or "undefined" / "unreachable: ...".
    public var domainState: String
    public var domainUUID: String?
    public var disks: [Disk] = []
    public var computerName: String?
    public var owner: String?
    public var timeZone: String?
    public var storageBus: String?
    public var encrypted: Bool?
    /// The latest patch run: when, and each of its items with its state (`succeeded`,
    /// `staged`, `rolled-back`, ...); nil when the desktop was never patched.
    public var lastPatch: String?
    /// Patch media (`PatchMedium`) the domain attaches: its staged items wait on them.
    public var patchMedia: [String] = []
    public var failure: String?
    /// False when the desktop's device could not be asked: domain and disks are then unknown,
    /// not missing.
    public var reachable: Bool = true
}

public enum DesktopStatusReader {
    /// `2026-12-04T06:24:10Z: fix.reg succeeded, kb1.msu staged` for the desktop's latest patch run.
    static func lastPatch(desktopID: Int64, _ db: Database) throws -> String? {
        guard let latest = try Row.fetchOne(db, sql: "SELECT runID, createdAt FROM patchItem WHERE desktopID = ? ORDER BY id DESC LIMIT 1",
                                            arguments: [desktopID]) else { return nil }
        let items = try Row.fetchAll(db, sql: "SELECT file, state FROM patchItem WHERE desktopID = ? AND runID = ? ORDER BY id",
                                     arguments: [desktopID, latest["runID"] as String])
        let when = ISO8601DateFormatter().string(from: latest["createdAt"] as Date)
        return "\(when): " + items.map { "\($0["file"] as String) \($0["state"] as String)" }.joined(separator: ", ")
    }

    /// virsh's words for a domain state.
    static func name(_ state: DomainState) -> String {
        switch state {
        case .noState: "no state"
        case .running: "running"
        case .blocked: "blocked"
        case .paused: "paused"
        case .shuttingDown: "shutting down"
        case .shutOff: "shut off"
        case .crashed: "crashed"
        case .pmSuspended: "pmsuspended"
        case .unknown(let state, _): "unknown (\(state))"
        }
    }

    /// Desktops by name (retired ones included), or all live ones on a device, or all live ones:
    /// retired desktops are history (`lcm inventory list desktops` lists them).
    public static func read(names: [String], device: String?, context: LCMContext) throws -> [DesktopStatusReport] {
        let inventory = try context.inventory()
        let rows = try inventory.read { db in try DesktopReports.statusRows(db, names: names, device: device) }
        let found = Set(rows.map { $0["name"] as String })
        if let missing = names.first(where: { !found.contains($0) }) {
            throw LCMError.notFound("desktop \(missing)", hint: "`lcm manage status` lists every desktop")
        }
        if let device, rows.isEmpty { _ = try inventory.read { db in try DeviceLifecycle.find(db, device) } }
        var connections: [String: Result<Connection, any Error>] = [:]
        return try rows.map { row in
            let settings = try (row["settings"] as String?).map { try DesktopSettings.decode(stored: $0, desktop: row["name"]) }
            var report = DesktopStatusReport(
                desktop: row["name"], device: row["assetTag"], uri: row["libvirtURI"], user: row["username"], status: row["status"],
                stage: row["stage"], image: (row["imageName"] as String?).map { "\($0):\(row["imageVersion"] as String? ?? "?")" },
                domainState: "undefined", domainUUID: row["domainUUID"], computerName: settings?.computerName, owner: settings?.owner,
                timeZone: settings?.timeZone, storageBus: settings?.storageBus.rawValue, encrypted: settings?.encrypted,
                lastPatch: nil, failure: row["failure"])
            let (volumes, lastPatch) = try inventory.read { db in
                (try Row.fetchAll(db, sql: "SELECT role, name, path, pool FROM volume WHERE desktopID = ? ORDER BY role DESC", arguments: [row["id"] as Int64]),
                 try Self.lastPatch(desktopID: row["id"], db))
            }
            report.lastPatch = lastPatch
            guard let uri = report.uri else { return report }
            if connections[uri] == nil { connections[uri] = Result { try context.connect(uri) } }
            // The device is down or went away: say so, and claim nothing about its disks.
            func unreachable(_ error: any Error) {
                connections[uri] = .failure(error)
                report.reachable = false
                report.domainState = "unreachable: \(LCMError.from(error).message)"
                report.disks = volumes.map { DesktopStatusReport.Disk(role: $0["role"], volume: $0["name"], path: $0["path"], backingChain: [], present: false) }
            }
            switch connections[uri]! {
            case .failure(let error):
                unreachable(error)
            case .success(let connection):
                do {
                    try Self.readLibvirt(into: &report, volumes: volumes, connection: connection)
                } catch let error as LibvirtError where error.isConnectionFailure || !connection.isAlive {
                    unreachable(error)
                }
            }
            return report
        }
    }

    /// The domain's state and each volume as libvirt sees them.
    static func readLibvirt(into report: inout DesktopStatusReport, volumes: [Row], connection: Connection) throws {
        if let domain = try connection.lookupDomain(name: report.desktop) {
            report.domainState = Self.name(try domain.state())
            report.patchMedia = try PatchMedium.attachedMedia(in: try domain.xmlDescription(flags: [.inactive]))
        }
        for volume in volumes {
            let pool = try connection.lookupStoragePool(name: volume["pool"] ?? DeviceStoragePool.name)
            var disk = DesktopStatusReport.Disk(role: volume["role"], volume: volume["name"], path: volume["path"], backingChain: [], present: false)
            if let found = try pool?.lookupVolume(name: volume["name"]) {
                let description = try VolumeDescription.parse(try found.xmlDescription())
                let info = try found.info()
                disk.present = true
                disk.format = description.format
                disk.encryption = description.encryptionFormat
                disk.backingChain = description.backingPath.map { [$0] } ?? []
                disk.virtualSize = info.capacity
                disk.allocation = info.allocation
            }
            report.disks.append(disk)
        }
    }
}
