import Foundation
import GRDB

/// Read-only queries that join desktops with other tables (devices, users, images, volumes,
/// patch items, seats, certificates). Kept here, beside `DesktopStore`, so the `desktop` table is
/// named only in the inventory layer; each runs on the caller's `Database` and transaction.
public enum DesktopReports {
    /// Rows for `lcm manage status`: desktops by name (any status), or the live ones on a device
    /// (`device` matches asset tag or serial), or all live ones; ordered by name. Columns: id, name,
    /// status, stage, settings, domainUUID, failure, assetTag, libvirtURI, username, imageName, imageVersion.
    static func statusRows(_ db: Database, names: [String], device: String?) throws -> [Row] {
        var sql = """
            SELECT d.id, d.name, d.status, d.stage, d.settings, d.domainUUID, d.failure, v.assetTag, v.libvirtURI,
                   u.username, i.name AS imageName, iv.version AS imageVersion
            FROM desktop d LEFT JOIN device v ON v.id = d.deviceID LEFT JOIN user u ON u.id = d.userID
            LEFT JOIN imageVersion iv ON iv.id = d.imageVersionID LEFT JOIN image i ON i.id = iv.imageID
            """
        var arguments: [DatabaseValueConvertible] = []
        if !names.isEmpty {
            sql += " WHERE d.name IN (\(placeholders(names.count)))"
            arguments = names
        } else if let device {
            sql += " WHERE (v.assetTag = ? OR v.serial = ?) AND " + DesktopStatus.isLive("d")
            arguments = [device, device]
        } else {
            sql += " WHERE " + DesktopStatus.isLive("d")
        }
        sql += " ORDER BY d.name"
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments))
    }

    /// Completely deployed desktops to patch (columns name, status), by name, by device (asset tag or
    /// serial), or all; `status` narrows to one status, otherwise a selection not by name keeps live ones.
    static func patchableRows(_ db: Database, names: [String], device: String?, status: DesktopStatus?) throws -> [Row] {
        var sql = "SELECT d.name, d.status FROM desktop d LEFT JOIN device v ON v.id = d.deviceID WHERE d.stage = 'complete'"
        var arguments: [DatabaseValueConvertible] = []
        if !names.isEmpty {
            sql += " AND d.name IN (\(placeholders(names.count)))"
            arguments = names
        } else if let device {
            sql += " AND (v.assetTag = ? OR v.serial = ?)"
            arguments = [device, device]
        }
        if let status {
            sql += " AND d.status = ?"
            arguments.append(status.rawValue)
        } else if names.isEmpty {
            sql += " AND " + DesktopStatus.isLive("d")
        }
        return try Row.fetchAll(db, sql: sql + " ORDER BY d.name", arguments: StatementArguments(arguments))
    }

    /// Queued patch items of live desktops, oldest first (columns runID, name, file, sha256).
    static func queuedPatchRows(_ db: Database) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT p.runID, d.name, p.file, p.sha256 FROM patchItem p JOIN desktop d ON d.id = p.desktopID
            WHERE p.state = 'queued' AND \(DesktopStatus.isLive("d")) ORDER BY p.id
            """)
    }

    /// Desktops (any status) with queued patch items.
    static func namesWithQueuedPatches(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT DISTINCT d.name FROM patchItem p JOIN desktop d ON d.id = p.desktopID WHERE p.state = 'queued'")
    }

    /// Live desktops that have patch records, by name.
    static func patchedNames(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT DISTINCT d.name FROM patchItem p JOIN desktop d ON d.id = p.desktopID WHERE \(DesktopStatus.isLive("d")) ORDER BY d.name
            """)
    }

    /// Live desktops whose `topRole` layer a patch run (`runID` prefix, lower case) made and that
    /// was not rolled back since.
    static func namesPatchedOnTop(_ db: Database, run runID: String, topRole: String) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT DISTINCT d.name FROM desktop d JOIN volume v ON v.desktopID = d.id AND v.role = ?
            JOIN patchItem p ON p.desktopID = d.id AND p.layer = v.name
            WHERE p.runID LIKE ? || '%' AND p.state != ? AND \(DesktopStatus.isLive("d")) ORDER BY d.name
            """, arguments: [topRole, runID, PatchItemState.rolledBack.rawValue])
    }

    /// Patch media still needed: by a staged item, or by an item in a live desktop's `lowerRole`
    /// layer (a rollback could bring it back).
    static func neededPatchMedia(_ db: Database, lowerRole: String) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT DISTINCT p.medium FROM patchItem p WHERE p.medium IS NOT NULL AND (p.state = ? OR EXISTS (
                SELECT 1 FROM volume v JOIN desktop d ON d.id = v.desktopID
                WHERE v.desktopID = p.desktopID AND v.name = p.layer AND v.role = ? AND d.status NOT IN (?, ?, ?)))
            """, arguments: [PatchItemState.staged.rawValue, lowerRole, DesktopStatus.retiring.rawValue,
                             DesktopStatus.retired.rawValue, DesktopStatus.disposed.rawValue])
    }

    /// Desktops' volumes in a pool that may be encrypted (columns desktop, pool, name, uri).
    static func encryptableVolumeRows(_ db: Database) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT d.name AS desktop, v.pool, v.name, dev.libvirtURI AS uri
            FROM volume v JOIN desktop d ON d.id = v.desktopID LEFT JOIN device dev ON dev.id = d.deviceID
            WHERE v.pool IS NOT NULL AND (v.format IS NULL OR v.format IN ('qcow2', 'raw', 'luks'))
            ORDER BY d.name, v.name
            """)
    }

    /// The open seats a desktop holds (columns id, pool, desktop).
    static func openSeatRows(_ db: Database, desktopID: Int64) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT s.id, l.name AS pool, k.name AS desktop FROM licenseSeat s
            JOIN licensePool l ON l.id = s.poolID LEFT JOIN desktop k ON k.id = s.desktopID
            WHERE s.desktopID = ? AND s.releasedAt IS NULL ORDER BY s.id
            """, arguments: [desktopID])
    }

    /// The desktops holding a pool's seats (columns name, assignedAt), by name.
    static func seatHolderRows(_ db: Database, poolID: Int64) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT k.name, s.assignedAt FROM licenseSeat s JOIN desktop k ON k.id = s.desktopID
            WHERE s.poolID = ? AND s.releasedAt IS NULL ORDER BY k.name
            """, arguments: [poolID])
    }

    /// Every desktop of a device with its last certificate (columns name, status, sequence, claim).
    static func certifiedRows(_ db: Database, deviceID: Int64) throws -> [Row] {
        try Row.fetchAll(db, sql: """
            SELECT d.name, d.status, MAX(c.sequence) AS sequence, c.claim FROM desktop d
            LEFT JOIN certificate c ON c.subjectKind = 'desktop' AND c.subjectName = d.name
            WHERE d.deviceID = ? GROUP BY d.id ORDER BY d.name
            """, arguments: [deviceID])
    }

    /// A device's desktops still to retire: not retired or disposed, or with an open retirement.
    static func namesToRetire(_ db: Database, deviceID: Int64) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT name FROM desktop d WHERE deviceID = ? AND (status NOT IN (?, ?)
                OR EXISTS (SELECT 1 FROM retirement r WHERE r.desktopID = d.id AND r.endedAt IS NULL)) ORDER BY name
            """, arguments: [deviceID, DesktopStatus.retired.rawValue, DesktopStatus.disposed.rawValue])
    }

    /// The open retirement of a desktop by name, newest first (every column of `retirement`).
    static func openRetirementRow(_ db: Database, desktop name: String) throws -> Row? {
        try Row.fetchOne(db, sql: """
            SELECT r.* FROM retirement r JOIN desktop d ON d.id = r.desktopID
            WHERE d.name = ? AND r.endedAt IS NULL ORDER BY r.id DESC LIMIT 1
            """, arguments: [name])
    }

    private static func placeholders(_ count: Int) -> String { Array(repeating: "?", count: count).joined(separator: ",") }
}
