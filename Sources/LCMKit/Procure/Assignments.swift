import Foundation
import GRDB

/// Check-out of devices and desktops to users, and check-in, with history. At most one open
/// check-out per object (also enforced by a unique index).
public enum Assignments {
    /// The open check-out of an object, if any.
    public static func current(_ db: Database, kind: AssignmentKind, objectID: Int64) throws -> Assignment? {
        try Assignment.filter(Column("objectKind") == kind.rawValue && Column("objectID") == objectID && Column("checkedInAt") == nil)
            .fetchOne(db)
    }

    /// Every check-out of an object, oldest first.
    public static func history(_ db: Database, kind: AssignmentKind, objectID: Int64) throws -> [Assignment] {
        try Assignment.filter(Column("objectKind") == kind.rawValue && Column("objectID") == objectID)
            .order(Column("checkedOutAt"), Column("id")).fetchAll(db)
    }

    /// Hands an object to a user. A device must be in stock or deployed; one in stock becomes
    /// deployed. Checking out again to the same user is a no-op; to someone else is a conflict.
    @discardableResult
    public static func checkOut(_ db: Database, kind: AssignmentKind, objectID: Int64, userID: Int64,
                                actor: AuditActor, now: Date = Date()) throws -> Assignment {
        guard let user = try User.fetchOne(db, key: userID) else { throw LCMError.notFound("user #\(userID)") }
        let label = try objectLabel(db, kind: kind, objectID: objectID)
        if let open = try current(db, kind: kind, objectID: objectID) {
            if open.userID == userID { return open }
            let holder = try String.fetchOne(db, sql: "SELECT username FROM user WHERE id = ?", arguments: [open.userID]) ?? "?"
            throw LCMError(.conflict, "\(kind.rawValue) \(label) is checked out to \(holder)",
                           hint: "check it in first: lcm procure checkin \(label)")
        }
        switch kind {
        case .device:
            guard var device = try Device.fetchOne(db, key: objectID) else { throw LCMError.notFound("device #\(objectID)") }
            guard device.status == .inStock || device.status == .deployed else {
                throw LCMError(.conflict, "device \(device.assetTag) is \(device.status.rawValue): only devices in stock or deployed can be checked out",
                               hint: device.status == .ordered ? "receive it first: lcm procure move \(device.assetTag) \"in stock\"" : nil)
            }
            if device.status == .inStock {
                device = try DeviceLifecycle.move(db, device, to: .deployed, note: "checked out to \(user.username)", actor: actor, now: now)
            }
            device.userID = userID
            device.updatedAt = now
            try device.update(db)
        case .desktop:
            if let status = try DesktopStore.status(db, id: objectID), status.isHistory {
                throw LCMError(.conflict, "desktop \(label) is \(status.rawValue): a retired desktop is no longer handed to a user",
                               hint: "deploy a new desktop for \(user.username)")
            }
            try DesktopStore.setUser(db, id: objectID, userID: userID, now: now)
        }
        var assignment = Assignment(objectKind: kind, objectID: objectID, userID: userID, checkedOutAt: now)
        try assignment.insert(db)
        try AuditLog.record(db, actor: actor, objectKind: kind.rawValue, objectID: label, action: "check-out",
                            details: ["user": user.username])
        return assignment
    }

    /// Takes an object back from its user. A deployed device goes back in stock unless
    /// `keepStatus` (e.g. it goes to repair next, or stays deployed for another user).
    @discardableResult
    public static func checkIn(_ db: Database, kind: AssignmentKind, objectID: Int64, keepStatus: Bool = false,
                               actor: AuditActor, now: Date = Date()) throws -> Assignment {
        let label = try objectLabel(db, kind: kind, objectID: objectID)
        guard var open = try current(db, kind: kind, objectID: objectID) else {
            throw LCMError(.conflict, "\(kind.rawValue) \(label) is not checked out")
        }
        let username = try String.fetchOne(db, sql: "SELECT username FROM user WHERE id = ?", arguments: [open.userID]) ?? "?"
        open.checkedInAt = now
        try open.update(db)
        switch kind {
        case .device:
            guard var device = try Device.fetchOne(db, key: objectID) else { throw LCMError.notFound("device #\(objectID)") }
            device.userID = nil
            device.updatedAt = now
            try device.update(db)
            if device.status == .deployed && !keepStatus {
                try DeviceLifecycle.move(db, device, to: .inStock, note: "checked in from \(username)", actor: actor, now: now)
            }
        case .desktop:
            try DesktopStore.setUser(db, id: objectID, userID: nil, now: now)
        }
        try AuditLog.record(db, actor: actor, objectKind: kind.rawValue, objectID: label, action: "check-in",
                            details: ["user": username])
        return open
    }

    /// The user with this name; with `create`, made if missing.
    public static func user(_ db: Database, username: String, create: Bool = false, fullName: String? = nil,
                            email: String? = nil, actor: AuditActor, now: Date = Date()) throws -> User {
        if let user = try User.filter(Column("username") == username).fetchOne(db) { return user }
        guard create else {
            throw LCMError.notFound("user '\(username)'", hint: "pass --create-user to add the user as part of the check-out")
        }
        let trimmed = username.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed == username, !username.contains(where: { $0.isNewline || $0 == "\t" }) else {
            throw LCMError(.usage, "username '\(username)' is empty or has surrounding spaces")
        }
        var user = User(username: username, fullName: fullName, email: email, createdAt: now)
        try user.insert(db)
        var details = ["username": username]
        if let fullName { details["full_name"] = fullName }
        if let email { details["email"] = email }
        try AuditLog.record(db, actor: actor, objectKind: "user", objectID: username, action: "add", details: details)
        return user
    }

    /// The name admins know an object by: a device's asset tag, a desktop's name.
    static func objectLabel(_ db: Database, kind: AssignmentKind, objectID: Int64) throws -> String {
        let found: String?
        switch kind {
        case .device: found = try String.fetchOne(db, sql: "SELECT assetTag FROM device WHERE id = ?", arguments: [objectID])
        case .desktop: found = try DesktopStore.name(db, id: objectID)
        }
        guard let label = found else {
            throw LCMError.notFound("\(kind.rawValue) #\(objectID)")
        }
        return label
    }
}
