import Foundation
import GRDB

/// The status a hardware asset goes through, and the only moves allowed between them:
///
///     ordered ──> in stock <──> deployed
///        │          │  ↑  ╲      │
///        │          ↓  │   ╲     ↓
///        │        in repair ──> (any of the three)
///        └──────────────┴──────> retired ──> disposed (wiped)
///
/// Every move is recorded in the device's status history and the audit log.
public enum DeviceLifecycle {
    /// From each status, where a device may go next.
    public static let transitions: [DeviceStatus: [DeviceStatus]] = [
        .ordered: [.inStock, .retired],                // delivered, or the order was cancelled
        .inStock: [.deployed, .inRepair, .retired],
        .deployed: [.inStock, .inRepair, .retired],
        .inRepair: [.inStock, .deployed, .retired],
        .retired: [.disposed],
        .disposed: [],                                 // final: the disks were wiped and the asset left
    ]

    public static func allowed(from status: DeviceStatus) -> [DeviceStatus] {
        transitions[status] ?? []
    }

    public static func canMove(from: DeviceStatus, to: DeviceStatus) -> Bool {
        allowed(from: from).contains(to)
    }

    /// A device by asset tag or serial.
    public static func find(_ db: Database, _ key: String) throws -> Device {
        if let device = try Device.fetchOne(db, sql: "SELECT * FROM device WHERE assetTag = ? OR serial = ? ORDER BY assetTag = ? DESC LIMIT 1",
                                             arguments: [key, key, key]) {
            return device
        }
        throw LCMError.notFound("device '\(key)'", hint: "give an asset tag or serial; `lcm inventory list devices` shows them")
    }

    /// Moves a device to `status`, enforcing the transition table and what each status means:
    /// a retired or disposed device hosts no live desktop and is checked out to nobody, and disposal
    /// needs a note saying how its disks were wiped. Moving to the current status is a no-op, so a
    /// retried step does no harm.
    @discardableResult
    public static func move(_ db: Database, _ device: Device, to status: DeviceStatus, note: String? = nil,
                            actor: AuditActor, now: Date = Date()) throws -> Device {
        guard let id = device.id else { throw LCMError(.failure, "device \(device.assetTag) has no id (not saved)") }
        // Re-read inside the transaction: the caller's copy may be stale.
        guard var current = try Device.fetchOne(db, key: id) else { throw LCMError.notFound("device '\(device.assetTag)'") }
        if current.status == status { return current }
        guard canMove(from: current.status, to: status) else {
            let next = allowed(from: current.status)
            throw LCMError(.conflict, "device \(current.assetTag) cannot go from \(current.status.rawValue) to \(status.rawValue)",
                           hint: next.isEmpty ? "\(current.status.rawValue) is final"
                                              : "allowed from \(current.status.rawValue): \(next.map(\.rawValue).joined(separator: ", "))")
        }
        if status == .retired || status == .disposed {
            let live = try DesktopStore.names(db, deviceID: id, excluding: [.retired, .disposed])
            if !live.isEmpty {
                throw LCMError(.conflict, "device \(current.assetTag) still hosts desktop(s) \(live.joined(separator: ", "))",
                               hint: "retire or move them first")
            }
            if let open = try Assignments.current(db, kind: .device, objectID: id) {
                let user = try String.fetchOne(db, sql: "SELECT username FROM user WHERE id = ?", arguments: [open.userID]) ?? "?"
                throw LCMError(.conflict, "device \(current.assetTag) is checked out to \(user)",
                               hint: "check it in first: lcm procure checkin \(current.assetTag)")
            }
        }
        let trimmedNote = note?.trimmingCharacters(in: .whitespacesAndNewlines)
        if status == .disposed && (trimmedNote ?? "").isEmpty {
            throw LCMError(.usage, "disposing of device \(current.assetTag) needs a note saying how its disks were wiped",
                           hint: "pass --note, e.g. --note \"wiped: NIST 800-88 purge, certificate 2026-118\"")
        }
        let previous = current.status
        current.status = status
        current.updatedAt = now
        try current.update(db)
        try recordChange(db, deviceID: id, from: previous, to: status, note: trimmedNote, actor: actor, now: now)
        var details = ["from": previous.rawValue, "to": status.rawValue]
        if let trimmedNote, !trimmedNote.isEmpty { details["note"] = trimmedNote }
        try AuditLog.record(db, actor: actor, objectKind: "device", objectID: current.assetTag, action: "status", details: details)
        return current
    }

    static func recordChange(_ db: Database, deviceID: Int64, from: DeviceStatus?, to: DeviceStatus, note: String?,
                             actor: AuditActor, now: Date) throws {
        var change = DeviceStatusChange(deviceID: deviceID, fromStatus: from, toStatus: to, changedAt: now,
                                        osUser: actor.osUser, note: note?.isEmpty == true ? nil : note)
        try change.insert(db)
    }

    /// The device's status changes, oldest first.
    public static func history(_ db: Database, deviceID: Int64) throws -> [DeviceStatusChange] {
        try DeviceStatusChange.filter(Column("deviceID") == deviceID).order(Column("changedAt"), Column("id")).fetchAll(db)
    }

    /// A device's life in one timeline, oldest first, for `lcm procure history`: intake, status
    /// changes, check-outs and check-ins, corrections and checks. Read from the audit log, whose
    /// ids give the true order even when two changes share a timestamp.
    public static func timeline(_ db: Database, device: Device) throws -> ReportTable {
        let events = try AuditEvent.fetchAll(db, sql: """
            SELECT * FROM event WHERE objectKind = 'device' AND objectID = ? ORDER BY id
            """, arguments: [device.assetTag])
        var table = ReportTable(columns: ["time", "event", "detail", "by"])
        let formatter = ISO8601DateFormatter()
        for event in events {
            let details = event.details.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] } ?? [:]
            let detail: String
            switch event.action {
            case "add":
                detail = "entered as \(details["status"] ?? "?")" + (details["file"].map { " from \($0)" + (details["line"].map { " line \($0)" } ?? "") } ?? "")
            case "status":
                detail = "\(details["from"] ?? "?") -> \(details["to"] ?? "?")" + (details["note"].map { " (\($0))" } ?? "")
            case "check-out":
                detail = "to \(details["user"] ?? "?")"
            case "check-in":
                detail = "from \(details["user"] ?? "?")"
            case "check":
                detail = "profile \(details["profile"] ?? "?"): \(event.outcome)" + ((details["failed"] ?? "").isEmpty ? "" : " (failed: \(details["failed"]!))")
            default:
                detail = details.keys.sorted().map { "\($0)=\(details[$0]!)" }.joined(separator: ", ")
            }
            table.rows.append([.text(formatter.string(from: event.time)), .text(event.action), .text(detail), .text(event.osUser)])
        }
        return table
    }
}
