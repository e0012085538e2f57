import Foundation
import GRDB

/// Typed reads and writes of the `desktop` table: the only code outside the schema that names it.
///
/// Every function runs on the caller's `Database`, inside the transaction the caller opened
/// (`Inventory.read` or `Inventory.write`): what is written together, with its audit event,
/// stays one transaction, as crash recovery and the journal expect.
public enum DesktopStore {
    private static let nameColumn = Column("name"), idColumn = Column("id"), statusColumn = Column("status")

    // MARK: Reads

    /// The whole desktop row by name; nil when there is none.
    public static func find(_ db: Database, name: String) throws -> Desktop? {
        try Desktop.filter(nameColumn == name).fetchOne(db)
    }

    /// The whole desktop row by id; nil when there is none.
    public static func find(_ db: Database, id: Int64) throws -> Desktop? {
        try Desktop.fetchOne(db, key: id)
    }

    /// A desktop's name; nil when the id is unknown.
    public static func name(_ db: Database, id: Int64) throws -> String? {
        try Desktop.select(nameColumn, as: String.self).filter(idColumn == id).fetchOne(db)
    }

    /// A desktop's status (from the status column alone: a damaged settings text does not hide it).
    public static func status(_ db: Database, id: Int64) throws -> DesktopStatus? {
        try Desktop.select(statusColumn, as: String.self).filter(idColumn == id).fetchOne(db).flatMap(DesktopStatus.init(rawValue:))
    }

    public static func status(_ db: Database, name: String) throws -> DesktopStatus? {
        try Desktop.select(statusColumn, as: String.self).filter(nameColumn == name).fetchOne(db).flatMap(DesktopStatus.init(rawValue:))
    }

    /// The id of its disk and TPM key, if it has one.
    public static func keyID(_ db: Database, id: Int64) throws -> String? {
        try Desktop.select(Column("keyID"), as: String.self).filter(idColumn == id).fetchOne(db)
    }

    /// The generation of the layers personalization wrote into, if any.
    public static func personalizedGeneration(_ db: Database, id: Int64) throws -> String? {
        try Desktop.select(Column("personalizedGeneration"), as: String.self).filter(idColumn == id).fetchOne(db)
    }

    /// Which of `names` are desktops (whatever their status).
    public static func existingNames(_ db: Database, among names: [String]) throws -> Set<String> {
        Set(try Desktop.select(nameColumn, as: String.self).filter(names.contains(nameColumn)).fetchAll(db))
    }

    /// Live desktops (see `DesktopStatus.history`) made from an image version, by name.
    public static func liveNames(_ db: Database, imageVersionID: Int64) throws -> [String] {
        try Desktop.select(nameColumn, as: String.self).filter(Column("imageVersionID") == imageVersionID)
            .filter(!DesktopStatus.history.map(\.rawValue).contains(statusColumn)).order(nameColumn).fetchAll(db)
    }

    /// Desktops on a device whose status is not one of `excluding`, by name.
    public static func names(_ db: Database, deviceID: Int64, excluding statuses: [DesktopStatus]) throws -> [String] {
        try Desktop.select(nameColumn, as: String.self).filter(Column("deviceID") == deviceID)
            .filter(!statuses.map(\.rawValue).contains(statusColumn)).order(nameColumn).fetchAll(db)
    }

    // MARK: Writes

    /// Inserts a new desktop row (its id is set on `desktop`).
    public static func insert(_ db: Database, _ desktop: inout Desktop) throws {
        try desktop.insert(db)
    }

    /// Deletes the desktop row alone; rows that refer to it are the caller's to remove first.
    public static func delete(_ db: Database, id: Int64) throws {
        _ = try Desktop.deleteOne(db, key: id)
    }

    public static func setStatus(_ db: Database, id: Int64, _ newStatus: DesktopStatus, now: Date = Date()) throws {
        try update(db, id: id, [statusColumn.set(to: newStatus.rawValue), Column("updatedAt").set(to: now)])
    }

    /// A completed deployment stage; it clears the last failure.
    public static func setStage(_ db: Database, id: Int64, _ stage: DeployStage, now: Date = Date()) throws {
        try update(db, id: id, [Column("stage").set(to: stage.rawValue), Column("failure").set(to: nil),
                                Column("updatedAt").set(to: now)])
    }

    /// The last deploy failure, shown by `lcm manage status` until a stage completes.
    public static func setFailure(_ db: Database, id: Int64, _ message: String?, now: Date = Date()) throws {
        try update(db, id: id, [Column("failure").set(to: message), Column("updatedAt").set(to: now)])
    }

    /// The stage and settings written when deploy records a desktop.
    public static func setDeployment(_ db: Database, id: Int64, stage: DeployStage, settings: DesktopSettings) throws {
        try update(db, id: id, [Column("stage").set(to: stage.rawValue), Column("settings").set(to: try settings.storedJSON())])
    }

    public static func setKey(_ db: Database, id: Int64, keyID: String) throws {
        try update(db, id: id, [Column("keyID").set(to: keyID)])
    }

    /// Forgets a key on every desktop that names it (its creation was undone).
    public static func clearKey(_ db: Database, keyID: String) throws {
        try Desktop.filter(Column("keyID") == keyID).updateAll(db, Column("keyID").set(to: nil))
    }

    public static func setDomainUUID(_ db: Database, id: Int64, _ uuid: String) throws {
        try update(db, id: id, [Column("domainUUID").set(to: uuid)])
    }

    /// The generation of the layers personalization wrote into; nil once they are gone.
    public static func setPersonalizedGeneration(_ db: Database, id: Int64, _ generation: String?) throws {
        try update(db, id: id, [Column("personalizedGeneration").set(to: generation)])
    }

    /// The user it is checked out to; nil at check-in.
    public static func setUser(_ db: Database, id: Int64, userID: Int64?, now: Date = Date()) throws {
        try update(db, id: id, [Column("userID").set(to: userID), Column("updatedAt").set(to: now)])
    }

    private static func update(_ db: Database, id: Int64, _ assignments: [ColumnAssignment]) throws {
        try Desktop.filter(idColumn == id).updateAll(db, assignments)
    }
}
