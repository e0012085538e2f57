import Foundation
import GRDB

/// One image version as the catalog shows it: the row, its image's name, its parent's reference,
/// and the desktops using it.
public struct CatalogEntry: Codable, Sendable {
    /// The `imageVersion` row id.
    public var id: Int64?
    public var name: String
    public var version: String
    public var path: String
    public var state: String
    public var virtualSize: Int64?
    public var fileSize: Int64?
    public var compressed: Bool
    public var sha256: String?
    public var source: String?
    public var sourceFormat: String?
    public var sourceSHA256: String?
    public var producedBy: String?
    public var note: String?
    public var `operator`: String?
    public var createdAt: Date
    public var verifiedAt: Date?
    public var removedAt: Date?
    /// `name:version` of the version this one was made from.
    public var parent: String?
    /// Names of the live desktops whose OS layer is this version (retired ones are history:
    /// they do not hold a version in use).
    public var desktops: [String]
    public var inspection: WindowsInspection?

    public var reference: String { "\(name):\(version)" }
}

/// The outcome of recomputing a stored version's checksum.
public struct VerifyResult: Codable, Sendable {
    public var reference: String
    public var path: String
    public var expected: String?
    public var actual: String?
    public var ok: Bool
    public var problem: String?
}

/// The image catalog: named images, their immutable versions and lineage.
public struct ImageCatalog: Sendable {
    public let inventory: Inventory

    public init(inventory: Inventory) { self.inventory = inventory }

    // MARK: Reading

    public func entries(name: String? = nil, includeRemoved: Bool = false) throws -> [CatalogEntry] {
        try inventory.read { db in try Self.entries(db, name: name, includeRemoved: includeRemoved) }
    }

    static func entries(_ db: Database, name: String? = nil, includeRemoved: Bool = false) throws -> [CatalogEntry] {
        var sql = "SELECT v.*, i.name AS imageName FROM imageVersion v JOIN image i ON i.id = v.imageID"
        var conditions: [String] = []
        var arguments: [DatabaseValueConvertible] = []
        if let name { conditions.append("i.name = ?"); arguments.append(name) }
        if !includeRemoved { conditions.append("v.removedAt IS NULL") }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY i.name, v.createdAt, v.id"
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map { try entry(db, row: $0) }
    }

    /// The version a reference names: `name:version`, or the newest present version of `name`.
    public func resolve(_ reference: ImageReference) throws -> CatalogEntry {
        try inventory.read { db in try Self.resolve(db, reference) }
    }

    static func resolve(_ db: Database, _ reference: ImageReference) throws -> CatalogEntry {
        let candidates = try entries(db, name: reference.name)
        if let version = reference.version {
            if let match = candidates.first(where: { $0.version == version }) { return match }
            let removed = try entries(db, name: reference.name, includeRemoved: true).contains { $0.version == version }
            throw LCMError(.notFound, removed ? "image version \(reference) was removed" : "no image version \(reference)",
                           hint: "`lcm image list \(reference.name)` shows its versions")
        }
        guard let newest = candidates.last else {
            throw LCMError(.notFound, "no image named \(reference.name)", hint: "`lcm image list` shows the catalog")
        }
        return newest
    }

    static func entry(_ db: Database, row: Row) throws -> CatalogEntry {
        let version = try ImageVersion(row: row)
        let parent: String? = try version.parentID.flatMap { parentID in
            try Row.fetchOne(db, sql: "SELECT i.name, v.version FROM imageVersion v JOIN image i ON i.id = v.imageID WHERE v.id = ?",
                             arguments: [parentID]).map { "\($0["name"] as String):\($0["version"] as String)" }
        }
        let desktops = try version.id.map { try DesktopStore.liveNames(db, imageVersionID: $0) } ?? []
        let inspection = version.inspection.flatMap { try? JSONDecoder().decode(WindowsInspection.self, from: Data($0.utf8)) }
        return CatalogEntry(
            id: version.id, name: row["imageName"], version: version.version, path: version.path,
            state: version.removedAt == nil ? "present" : "removed", virtualSize: version.virtualSize,
            fileSize: version.fileSize, compressed: version.compressed, sha256: version.sha256, source: version.source,
            sourceFormat: version.sourceFormat, sourceSHA256: version.sourceSHA256, producedBy: version.producedBy,
            note: version.note, operator: version.operator, createdAt: version.createdAt, verifiedAt: version.verifiedAt,
            removedAt: version.removedAt, parent: parent, desktops: desktops, inspection: inspection)
    }

    /// The chain from the first version down to `entry`, oldest first.
    public func lineage(of entry: CatalogEntry) throws -> [String] {
        var chain = [entry.reference]
        var parent = entry.parent
        while let reference = parent, chain.count < 1000 {
            chain.insert(reference, at: 0)
            let ref = try ImageReference(parsing: reference)
            parent = try entries(name: ref.name, includeRemoved: true).first { $0.version == ref.version }?.parent
        }
        return chain
    }

    // MARK: Versions

    /// The version a new import or derivation gets: the requested one (refused if taken, even by
    /// a removed version, so a reference never names two different images), else the next whole
    /// number. Call under the image's object lock.
    static func settleVersion(inventory: Inventory, name: String, requested: String?) throws -> String {
        let taken = try inventory.read { db in
            try String.fetchAll(db, sql: "SELECT v.version FROM imageVersion v JOIN image i ON i.id = v.imageID WHERE i.name = ?",
                                arguments: [name])
        }
        if let requested {
            if taken.contains(requested) {
                throw LCMError(.conflict, "image \(name) already has a version \(requested)",
                               hint: "choose another --version, or omit it to take the next number")
            }
            return requested
        }
        return String((taken.compactMap { Int($0) }.max() ?? 0) + 1)
    }

    // MARK: Verify

    /// Recomputes each version's SHA-256 and compares it with the catalog's.
    public func verify(_ entries: [CatalogEntry]) throws -> [VerifyResult] {
        try entries.map { entry in
            guard FileManager.default.fileExists(atPath: entry.path) else {
                return VerifyResult(reference: entry.reference, path: entry.path, expected: entry.sha256, actual: nil,
                                    ok: false, problem: "file missing")
            }
            let actual = try FileDigest.sha256(path: entry.path)
            let ok = actual == entry.sha256
            if ok {
                try inventory.write { db in
                    try db.execute(sql: """
                        UPDATE imageVersion SET verifiedAt = ? WHERE path = ? AND removedAt IS NULL
                        """, arguments: [Date(), entry.path])
                }
            }
            return VerifyResult(reference: entry.reference, path: entry.path, expected: entry.sha256, actual: actual,
                                ok: ok, problem: ok ? nil : "checksum differs: the file changed since it was cataloged")
        }
    }

    // MARK: Remove

    /// Deletes a version's file and marks its row removed (the row stays: lineage and audit).
    /// Refused while a desktop uses it.
    public func remove(_ reference: ImageReference) throws -> CatalogEntry {
        guard reference.version != nil else {
            throw LCMError(.usage, "name the version to remove: \(reference.name):VERSION",
                           hint: "`lcm image list \(reference.name)` shows its versions")
        }
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "image", id: reference.name, timeout: 30)
        defer { lock.unlock() }
        let entry = try resolve(reference)
        if !entry.desktops.isEmpty {
            throw LCMError(.conflict, "\(entry.reference) is in use by \(entry.desktops.count) desktop(s): \(entry.desktops.joined(separator: ", "))",
                           hint: "roll those desktops to another version or retire them first")
        }
        try inventory.write { db in
            try db.execute(sql: "UPDATE imageVersion SET removedAt = ? WHERE path = ? AND removedAt IS NULL",
                           arguments: [Date(), entry.path])
            try AuditLog.record(db, actor: inventory.actor, objectKind: "image", objectID: entry.reference,
                                action: "removed", details: ["path": entry.path, "sha256": entry.sha256 ?? ""])
        }
        // After the commit: a crash in between leaves a file the catalog no longer lists, which
        // `lcm image verify` and doctor report; never a row that points at nothing.
        chmod(entry.path, 0o600)
        ImageStore(home: inventory.home).remove(path: entry.path)
        var removed = entry
        removed.state = "removed"
        return removed
    }
}
