import Foundation
import GRDB

/// A Windows VM: its OS layer, user-data disk, NVRAM and TPM state and its domain.
/// It lives on one device at a time and can move to another. Every column of the `desktop`
/// table is here; `DesktopStore` reads and writes it.
public struct Desktop: Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "desktop"
    public var id: Int64?
    public var name: String
    public var deviceID: Int64?
    public var userID: Int64?
    public var imageVersionID: Int64?
    public var status: DesktopStatus
    public var domainUUID: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// How far its deployment got; nil for a desktop lcm deploy did not make.
    public var stage: DeployStage?
    /// What its deployment decided; nil for a desktop lcm deploy did not make.
    public var settings: DesktopSettings?
    /// Its disk and TPM key (`desktopKey.id`); nil when deployed with --no-encrypt.
    public var keyID: String?
    /// The last deploy failure, cleared when a stage completes.
    public var failure: String?
    /// The generation of the layers personalization wrote into (`volume.generation`).
    public var personalizedGeneration: String?

    public init(name: String, deviceID: Int64?, userID: Int64? = nil, imageVersionID: Int64? = nil,
                status: DesktopStatus = .provisioning, stage: DeployStage? = nil, settings: DesktopSettings? = nil,
                now: Date = Date()) {
        self.name = name; self.deviceID = deviceID; self.userID = userID; self.imageVersionID = imageVersionID
        self.status = status; self.stage = stage; self.settings = settings; self.createdAt = now; self.updatedAt = now
    }

    public init(row: Row) throws {
        id = row["id"]
        name = row["name"]
        deviceID = row["deviceID"]
        userID = row["userID"]
        imageVersionID = row["imageVersionID"]
        status = try Self.value(DesktopStatus.self, row["status"], column: "status", desktop: row["name"])
        domainUUID = row["domainUUID"]
        createdAt = row["createdAt"]
        updatedAt = row["updatedAt"]
        stage = try (row["stage"] as String?).map { try Self.value(DeployStage.self, $0, column: "stage", desktop: row["name"]) }
        settings = try (row["settings"] as String?).map { try DesktopSettings.decode(stored: $0, desktop: row["name"]) }
        keyID = row["keyID"]
        failure = row["failure"]
        personalizedGeneration = row["personalizedGeneration"]
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["name"] = name
        container["deviceID"] = deviceID
        container["userID"] = userID
        container["imageVersionID"] = imageVersionID
        container["status"] = status.rawValue
        container["domainUUID"] = domainUUID
        container["createdAt"] = createdAt
        container["updatedAt"] = updatedAt
        container["stage"] = stage?.rawValue
        container["settings"] = try settings?.storedJSON()
        container["keyID"] = keyID
        container["failure"] = failure
        container["personalizedGeneration"] = personalizedGeneration
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// A closed-set column's value; one no lcm wrote is a damaged inventory, said as such.
    private static func value<T: RawRepresentable>(_ type: T.Type, _ raw: String, column: String, desktop: String) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: raw) else {
            throw LCMError(.databaseError, "desktop \(desktop) has an unknown \(column) '\(NameRule.printable(raw))' in the inventory",
                           hint: "restore the inventory from a backup, or use the lcm that wrote it")
        }
        return value
    }
}

/// Where a desktop is in its life.
public enum DesktopStatus: String, Codable, Sendable, CaseIterable {
    case provisioning, deployed, stopped, retiring, retired, disposed

    /// A desktop whose retirement has begun (`retiring`) or ended (`retired`, `disposed`) is
    /// history, not a live object: its seats, user and keys are given back and its layers are
    /// being or have been destroyed. Fleet-wide selections (`--all`, `--device`, in-use counts)
    /// leave such desktops out; only a command that names them, or `--status`, reaches them.
    public static let history: [DesktopStatus] = [.retiring, .retired, .disposed]

    public var isHistory: Bool { Self.history.contains(self) }

    /// The SQL condition that keeps only live desktops of the table aliased `alias`.
    static func isLive(_ alias: String) -> String {
        "\(alias).status NOT IN (\(history.map { "'\($0.rawValue)'" }.joined(separator: ", ")))"
    }
}

/// How far a desktop's deployment got. A rerun continues from here.
public enum DeployStage: String, Codable, Sendable, Comparable, CaseIterable {
    /// Row, seat and assignment written; nothing on the device yet.
    case recorded
    /// Golden version on the host, key, OS layer and user-data disk created.
    case prepared
    /// Computer name, owner, time zone, join and user data written offline.
    case personalized
    /// Domain defined (and started unless --no-start).
    case complete

    var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: DeployStage, b: DeployStage) -> Bool { a.order < b.order }
}
