import Foundation
import GRDB

/// Where a copy of a desktop key lives. Cryptographic erase only counts when every one of them is
/// destroyed, so each is registered before it is made.
public enum KeyCopyLocation: String, Codable, Sendable, CaseIterable {
    /// A libvirt secret on a device (detail: its UUID).
    case libvirtSecret = "libvirt-secret"
    /// The file where libvirtd keeps that secret's value (detail: its path on the device).
    case libvirtSecretFile = "libvirt-secret-file"
    /// The sealed copy in the inventory (detail: the table).
    case escrow
    /// A temporary file on lcm's machine (detail: its path). lcm hands secrets over through pipes,
    /// so this only appears where a tool cannot take a pipe.
    case tempFile = "temp-file"
    /// The LUKS keyslots of an encrypted volume: they wrap the volume's master key under the
    /// passphrase (detail: "pool/volume"). Destroyed by wiping the volume, not by `destroyAll`.
    case luksKeyslots = "luks-keyslots"
}

/// One registered copy of a key.
public struct KeyCopy: Codable, Sendable, Equatable {
    public var id: Int64
    public var keyID: String
    public var location: KeyCopyLocation
    /// The libvirt URI of the host holding it; nil for lcm's own machine.
    public var hostURI: String?
    public var detail: String
    public var createdAt: Date
    public var destroyedAt: Date?
    public var destroyedHow: String?

    public var isDestroyed: Bool { destroyedAt != nil }
}

/// The registry of key copies (table `keyCopy`). Rows are never deleted: a destroyed copy keeps
/// its row with when and how, which is what a wipe certificate cites.
public enum KeyCopyRegistry {
    /// Registers a copy inside the caller's transaction; returns its id.
    @discardableResult
    public static func register(_ db: Database, keyID: String, location: KeyCopyLocation, hostURI: String?,
                                detail: String) throws -> Int64 {
        // Registering the same live copy twice (a repeated step) keeps one row.
        if let existing = try Int64.fetchOne(db, sql: """
            SELECT id FROM keyCopy WHERE keyID = ? AND location = ? AND hostURI IS ? AND detail = ? AND destroyedAt IS NULL
            """, arguments: [keyID, location.rawValue, hostURI, detail]) {
            return existing
        }
        try db.execute(sql: """
            INSERT INTO keyCopy (keyID, location, hostURI, detail, createdAt) VALUES (?, ?, ?, ?, ?)
            """, arguments: [keyID, location.rawValue, hostURI, detail, Date()])
        return db.lastInsertedRowID
    }

    /// Marks a copy destroyed, saying how (and how it was verified).
    public static func markDestroyed(_ db: Database, copyID: Int64, how: String) throws {
        try db.execute(sql: "UPDATE keyCopy SET destroyedAt = ?, destroyedHow = ? WHERE id = ? AND destroyedAt IS NULL",
                       arguments: [Date(), how, copyID])
    }

    /// The copies of a key, oldest first; only those not destroyed unless `includeDestroyed`.
    public static func copies(_ db: Database, keyID: String, includeDestroyed: Bool = true) throws -> [KeyCopy] {
        let filter = includeDestroyed ? "" : " AND destroyedAt IS NULL"
        return try Row.fetchAll(db, sql: "SELECT * FROM keyCopy WHERE keyID = ?\(filter) ORDER BY id",
                                arguments: [keyID]).compactMap(Self.copy)
    }

    /// The live keyslot copies registered for volume `volume` of `pool` on `hostURI`.
    static func liveKeyslots(_ db: Database, hostURI: String, pool: String, volume: String) throws -> [KeyCopy] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM keyCopy WHERE location = ? AND hostURI IS ? AND detail = ? AND destroyedAt IS NULL ORDER BY id
            """, arguments: [KeyCopyLocation.luksKeyslots.rawValue, hostURI, "\(pool)/\(volume)"]).compactMap(Self.copy)
    }

    /// Every live copy of every key, for `lcm doctor` and audits.
    public static func liveCopies(_ db: Database) throws -> [KeyCopy] {
        try Row.fetchAll(db, sql: "SELECT * FROM keyCopy WHERE destroyedAt IS NULL ORDER BY id").compactMap(Self.copy)
    }

    static func copy(_ row: Row) -> KeyCopy? {
        guard let location = KeyCopyLocation(rawValue: row["location"]) else { return nil }
        return KeyCopy(id: row["id"], keyID: row["keyID"], location: location, hostURI: row["hostURI"],
                       detail: row["detail"], createdAt: row["createdAt"], destroyedAt: row["destroyedAt"],
                       destroyedHow: row["destroyedHow"])
    }
}
