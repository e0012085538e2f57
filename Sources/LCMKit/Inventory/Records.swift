import Foundation
import GRDB

/// A person desktops and devices are assigned to.
public struct User: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "user"
    public var id: Int64?
    public var username: String
    public var fullName: String?
    public var email: String?
    public var createdAt: Date

    public init(id: Int64? = nil, username: String, fullName: String? = nil, email: String? = nil, createdAt: Date = Date()) {
        self.id = id; self.username = username; self.fullName = fullName; self.email = email; self.createdAt = createdAt
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Where a hardware asset is in its life. Transitions are enforced by the procure phase.
public enum DeviceStatus: String, Codable, Sendable, CaseIterable {
    case ordered, inStock = "in stock", deployed, inRepair = "in repair", retired, disposed
}

/// A hardware asset: a client machine running libvirt, reached through its libvirt URI.
public struct Device: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "device"
    public var id: Int64?
    public var assetTag: String
    public var serial: String
    public var vendor: String?
    public var model: String?
    public var orderNumber: String?
    public var purchaseDate: String?
    public var costCents: Int64?
    public var currency: String?
    public var supplier: String?
    public var warrantyMonths: Int?
    public var profileID: Int64?
    public var libvirtURI: String?
    public var status: DeviceStatus
    public var userID: Int64?
    public var notes: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(assetTag: String, serial: String, status: DeviceStatus = .inStock, libvirtURI: String? = nil,
                vendor: String? = nil, model: String? = nil, now: Date = Date()) {
        self.assetTag = assetTag; self.serial = serial; self.status = status; self.libvirtURI = libvirtURI
        self.vendor = vendor; self.model = model; self.createdAt = now; self.updatedAt = now
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A named golden image; its content lives in immutable `ImageVersion`s.
public struct Image: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "image"
    public var id: Int64?
    public var name: String
    public var description: String?
    public var createdAt: Date

    public init(name: String, description: String? = nil, createdAt: Date = Date()) {
        self.name = name; self.description = description; self.createdAt = createdAt
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One immutable version of an image, with its provenance and lineage.
public struct ImageVersion: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "imageVersion"
    public var id: Int64?
    public var imageID: Int64
    public var version: String
    public var parentID: Int64?
    public var path: String
    public var format: String
    public var virtualSize: Int64?
    public var sha256: String?
    public var source: String?
    public var sourceSHA256: String?
    public var producedBy: String?
    public var `operator`: String?
    public var createdAt: Date
    /// `WindowsInspection` as JSON.
    public var inspection: String?
    public var fileSize: Int64?
    public var compressed: Bool = false
    public var sourceFormat: String?
    public var note: String?
    public var removedAt: Date?
    public var verifiedAt: Date?

    public init(imageID: Int64, version: String, path: String, format: String = "qcow2", createdAt: Date = Date()) {
        self.imageID = imageID; self.version = version; self.path = path; self.format = format; self.createdAt = createdAt
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A license pool: a product key (kept sealed) and a number of seats.
public struct LicensePool: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "licensePool"
    public var id: Int64?
    public var name: String
    public var product: String
    public var edition: String?
    public var protectedKey: Data?
    public var seats: Int
    public var expiresAt: String?
    public var createdAt: Date

    public init(name: String, product: String, edition: String? = nil, seats: Int, expiresAt: String? = nil, createdAt: Date = Date()) {
        self.name = name; self.product = product; self.edition = edition; self.seats = seats
        self.expiresAt = expiresAt; self.createdAt = createdAt
    }
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// One entry of the append-only audit log.
public struct AuditEvent: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "event"
    public var id: Int64?
    public var time: Date
    public var osUser: String
    public var pid: Int32
    public var command: String
    public var objectKind: String
    public var objectID: String
    public var action: String
    public var outcome: String
    public var details: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
