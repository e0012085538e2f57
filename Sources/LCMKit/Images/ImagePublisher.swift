import Foundation
import GRDB

/// Everything the catalog records about a new version.
struct NewImageVersion: Sendable {
    var name: String
    var version: String
    var description: String?
    var parentID: Int64?
    var virtualSize: Int64
    var sha256: String
    var source: String?
    var sourceSHA256: String?
    var sourceFormat: String?
    var producedBy: String
    var note: String
    var compressed: Bool
    var inspection: WindowsInspection
}

/// The last step of every operation that makes a version (import, driver injection, ...): the
/// finished file moves into the store and its rows and audit event commit together; undone by
/// the store path the operation recorded in its parameters ("store").
enum ImagePublisher {
    static func publish(context: OperationContext, store: ImageStore, incoming: String, version new: NewImageVersion,
                        recording: (Database, _ versionID: Int64) throws -> Void = { _, _ in }) throws -> (path: String, fileSize: Int64) {
        let destination = try store.publish(incoming, name: new.name, version: new.version)
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? NSNumber)?.int64Value ?? 0
        let inspectionJSON = String(decoding: try JSONEncoder.sorted.encode(new.inspection), as: UTF8.self)
        let actor = context.inventory.actor
        try context.inventory.write { db in
            var image = try Image.filter(Column("name") == new.name).fetchOne(db)
            if image == nil {
                var created = Image(name: new.name, description: new.description)
                try created.insert(db)
                image = created
            }
            var version = ImageVersion(imageID: image!.id!, version: new.version, path: destination)
            version.parentID = new.parentID
            version.virtualSize = new.virtualSize
            version.sha256 = new.sha256
            version.source = new.source
            version.sourceSHA256 = new.sourceSHA256
            version.sourceFormat = new.sourceFormat
            version.producedBy = new.producedBy
            version.note = new.note
            version.operator = actor.osUser
            version.inspection = inspectionJSON
            version.fileSize = fileSize
            version.compressed = new.compressed
            try version.insert(db)
            try AuditLog.record(db, actor: actor, objectKind: "image", objectID: "\(new.name):\(new.version)",
                                action: new.producedBy == "import" ? "imported" : "version created",
                                details: ["producedBy": new.producedBy, "sha256": new.sha256, "note": new.note])
            try recording(db, version.id!)
        }
        return (destination, fileSize)
    }

    /// Removes what `publish` did, found through the stored parameters (undo may run in a later process).
    static func undo(context: OperationContext) throws {
        let parameters = try context.parameters()
        guard let destination = parameters["store"], !destination.isEmpty else { return }
        try context.inventory.write { db in
            if let version = try ImageVersion.filter(Column("path") == destination && Column("removedAt") == nil).fetchOne(db) {
                try version.delete(db)
                if try ImageVersion.filter(Column("imageID") == version.imageID).fetchCount(db) == 0 {
                    try Image.deleteOne(db, key: version.imageID)
                }
            }
        }
        // Only a file this operation placed: a cataloged file at the same path would have made
        // `publish` fail before moving anything.
        let cataloged = try context.inventory.read { db in try ImageVersion.filter(Column("path") == destination).fetchCount(db) }
        if access(destination, F_OK) == 0, cataloged == 0 {
            chmod(destination, 0o600)
            ImageStore(home: context.inventory.home).remove(path: destination)
        }
    }
}
