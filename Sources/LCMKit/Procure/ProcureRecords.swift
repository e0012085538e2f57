import Foundation
import GRDB

/// A requirement profile as stored: its name and the JSON of a `RequirementProfile`.
public struct ProfileRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "profile"
    public var id: Int64?
    public var name: String
    public var spec: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, spec: String, now: Date = Date()) {
        self.name = name; self.spec = spec; self.createdAt = now; self.updatedAt = now
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public func profile() throws -> RequirementProfile {
        try RequirementProfile.fromSpecJSON(spec, name: name)
    }
}

/// One step in a device's status history (schema v2-procure).
public struct DeviceStatusChange: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "deviceStatusChange"
    public var id: Int64?
    public var deviceID: Int64
    /// nil for the status a device entered the inventory with.
    public var fromStatus: DeviceStatus?
    public var toStatus: DeviceStatus
    public var changedAt: Date
    public var osUser: String
    public var note: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// What an assignment hands to a user.
public enum AssignmentKind: String, Codable, Sendable, CaseIterable {
    case device, desktop
}

/// A check-out of a device or desktop to a user; open until `checkedInAt` is set.
public struct Assignment: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "assignment"
    public var id: Int64?
    public var objectKind: AssignmentKind
    public var objectID: Int64
    public var userID: Int64
    public var checkedOutAt: Date
    public var checkedInAt: Date?

    public init(objectKind: AssignmentKind, objectID: Int64, userID: Int64, checkedOutAt: Date) {
        self.objectKind = objectKind; self.objectID = objectID; self.userID = userID; self.checkedOutAt = checkedOutAt
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A seat of a license pool held by a desktop; released seats stay as history.
public struct LicenseSeat: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "licenseSeat"
    public var id: Int64?
    public var poolID: Int64
    public var desktopID: Int64
    public var assignedAt: Date
    public var releasedAt: Date?

    public init(poolID: Int64, desktopID: Int64, assignedAt: Date) {
        self.poolID = poolID; self.desktopID = desktopID; self.assignedAt = assignedAt
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension DeviceStatus {
    /// Accepts the stored names and shell-friendly spellings: "in stock", "in-stock", "in_stock", "IN STOCK".
    public init?(loose text: String) {
        let normalized = text.trimmingCharacters(in: .whitespaces).lowercased()
            .replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: "_", with: " ")
        let collapsed = normalized.split(separator: " ").joined(separator: " ")
        self.init(rawValue: collapsed)
    }

    public static var allNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
