import Foundation
import GRDB
import Libvirt

/// A desktop's disk encryption key: a random 256-bit passphrase that unlocks the LUKS layer of
/// each of the desktop's encrypted volumes.
///
/// Copies live in three kinds of places, each registered in `KeyCopyRegistry` before it is made:
/// the escrow (sealed under the master key in the inventory), a private libvirt secret on each
/// device that runs the desktop (and libvirtd's file behind it), and the LUKS keyslots of the
/// volumes. `destroyAll` removes every copy lcm can remove and reports, copy by copy, how.
public struct DesktopKey: Codable, Sendable, Equatable {
    public var id: String
    public var ownerKind: String
    public var ownerID: String
    public var createdAt: Date
    public var destroyedAt: Date?

    static let algorithm = "random-256-hex"

    /// The sealing purpose: binds a sealed passphrase to its key row.
    static func purpose(_ keyID: String) -> String { "desktop-key:\(keyID)" }

    /// The libvirt secret's usage id. A volume secret's usage id is normally the volume path; one
    /// key serves all of a desktop's volumes, so it names the key instead (libvirt only needs it
    /// unique), in the form of an absolute path, as libvirt's schema wants.
    public static func secretUsageID(_ keyID: String) -> String { "/lcm-desktop-key/\(keyID)" }

    /// The usage id earlier versions gave a key's volume secret (not a path): still found on devices.
    static func legacySecretUsageID(_ keyID: String) -> String { "lcm-desktop-key/\(keyID)" }

    // MARK: - Creating

    /// Creates a key for an owner (e.g. `("desktop", "42")`): a random passphrase escrowed under the
    /// master key of `inventory.home`, and, when `device` is given, a private libvirt secret on it
    /// so the desktop's domain can start. Every copy is registered.
    public static func create(ownerKind: String, ownerID: String, inventory: Inventory,
                              device: Connection? = nil) throws -> DesktopKey {
        let master = try MasterKey.loadOrCreate(home: inventory.home)
        let passphrase = DiskPassphrase.random()
        let key = DesktopKey(id: UUID().uuidString.lowercased(), ownerKind: ownerKind, ownerID: ownerID,
                             createdAt: Date(), destroyedAt: nil)
        var plain = Data(passphrase.bytes())
        defer { DiskPassphrase.wipe(&plain) }
        let sealed = try master.seal(plain, purpose: purpose(key.id))
        try inventory.pool.writeWithoutTransaction { db in
            // Every later rewrite of the escrow's pages zeroes what it frees (the pragma stays on
            // for the writer connection), so no stale copy of a sealed value lingers in free space.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        try inventory.write { db in
            try db.execute(sql: """
                INSERT INTO desktopKey (id, ownerKind, ownerID, algorithm, createdAt) VALUES (?, ?, ?, ?, ?)
                """, arguments: [key.id, ownerKind, ownerID, algorithm, key.createdAt])
            try KeyCopyRegistry.register(db, keyID: key.id, location: .escrow, hostURI: nil, detail: "inventory keyEscrow")
            try db.execute(sql: "INSERT INTO keyEscrow (keyID, sealed, createdAt) VALUES (?, ?, ?)",
                           arguments: [key.id, sealed.data, key.createdAt])
            try AuditLog.record(db, actor: inventory.actor, objectKind: "key", objectID: key.id, action: "key created",
                                details: ["owner": "\(ownerKind):\(ownerID)"])
        }
        if let device {
            _ = try key.installSecret(on: device, inventory: inventory, passphrase: passphrase)
        }
        return key
    }

    /// Defines the key as a private, persistent libvirt secret on a device (idempotent) and
    /// returns its UUID. Both the secret and libvirtd's file behind it are registered first.
    @discardableResult
    public func installSecret(on connection: Connection, inventory: Inventory,
                              passphrase known: DiskPassphrase? = nil) throws -> String {
        let usage = Self.secretUsageID(id)
        return try installLibvirtSecret(on: connection, inventory: inventory, passphrase: known, usageType: .volume, usage: usage,
                                        legacyUsage: Self.legacySecretUsageID(id), secretUsage: .volume(usage), purpose: "disk key")
    }

    /// One libvirt secret holding the key's value: looked up by usage, or by the usage an earlier
    /// version gave it (so a rerun reuses it),
    /// registered as a copy of the key before it exists (a crash after defining can never leave an
    /// unknown copy), its value set through the API only (never an argument, log line or file).
    func installLibvirtSecret(on connection: Connection, inventory: Inventory, passphrase known: DiskPassphrase?,
                              usageType: SecretUsageType, usage: String, legacyUsage: String, secretUsage: SecretDefinition.Usage,
                              purpose: String) throws -> String {
        let uri = try connection.uri
        let existing = try connection.lookupSecret(usageType: usageType, usageID: usage)
            ?? connection.lookupSecret(usageType: usageType, usageID: legacyUsage)
        let uuid = try existing?.uuidString ?? UUID().uuidString.lowercased()
        try inventory.write { db in
            try KeyCopyRegistry.register(db, keyID: id, location: .libvirtSecret, hostURI: uri, detail: uuid)
            if let file = Self.secretFilePath(uri: uri, uuid: uuid) {
                try KeyCopyRegistry.register(db, keyID: id, location: .libvirtSecretFile, hostURI: uri, detail: file)
            }
        }
        let secret: Secret
        if let existing {
            secret = existing
        } else {
            secret = try connection.defineSecret(xml: SecretDefinition(
                ephemeral: false, isPrivate: true, uuid: uuid, description: "lcm \(purpose) \(id) of \(ownerKind) \(ownerID)",
                usage: secretUsage).xml)
        }
        let passphrase = try known ?? Self.passphrase(keyID: id, inventory: inventory)
        var value = passphrase.bytes()
        defer { DiskPassphrase.wipe(&value) }
        do {
            try secret.setValue(value)
        } catch {
            if existing == nil { try? secret.undefine() }
            throw error
        }
        try inventory.recordEvent(objectKind: "key", objectID: id, action: "libvirt \(purpose) secret installed",
                                  details: ["host": uri, "secret": uuid])
        return uuid
    }

    /// Where libvirtd keeps a secret's value for `uri` (on that host), when the layout is known.
    static func secretFilePath(uri: String, uuid: String) -> String? {
        guard let components = URLComponents(string: uri) else { return nil }
        if components.path == "/system" { return "/etc/libvirt/secrets/\(uuid).base64" }
        if components.path == "/session", DiskHost.isLocal(uri: uri) {
            return "\(Connection.sessionConfigDirectory)/secrets/\(uuid).base64"
        }
        return nil
    }

    // MARK: - Reading

    /// The key with this id.
    public static func find(id: String, inventory: Inventory) throws -> DesktopKey? {
        try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM desktopKey WHERE id = ?", arguments: [id]).map(Self.init(row:))
        }
    }

    /// The keys of an owner, newest first.
    public static func keys(ownerKind: String, ownerID: String, inventory: Inventory) throws -> [DesktopKey] {
        try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM desktopKey WHERE ownerKind = ? AND ownerID = ? ORDER BY createdAt DESC",
                             arguments: [ownerKind, ownerID]).map(Self.init(row:))
        }
    }

    /// The passphrase, opened from the escrow. Never log or persist it.
    public static func passphrase(keyID: String, inventory: Inventory) throws -> DiskPassphrase {
        let sealed = try inventory.read { db in
            try Data.fetchOne(db, sql: "SELECT sealed FROM keyEscrow WHERE keyID = ?", arguments: [keyID])
        }
        guard let sealed else {
            throw LCMError(.notFound, "no escrowed passphrase for disk key \(keyID)",
                           hint: "the key was destroyed (desktop retired) or never created in this inventory")
        }
        let master = try MasterKey.loadOrCreate(home: inventory.home)
        var plain = try master.open(SealedSecret(data: sealed), purpose: purpose(keyID))
        defer { DiskPassphrase.wipe(&plain) }
        return DiskPassphrase(text: Array(plain))
    }

    /// The live copies of a key.
    public static func copies(keyID: String, inventory: Inventory, includeDestroyed: Bool = false) throws -> [KeyCopy] {
        try inventory.read { try KeyCopyRegistry.copies($0, keyID: keyID, includeDestroyed: includeDestroyed) }
    }

    // MARK: - Destroying

    /// Destroys every copy of a key lcm can reach and proves each: undefines its libvirt secrets
    /// (checking libvirt no longer finds them, and on this machine that libvirtd's file is gone),
    /// removes temporary files, and deletes the escrow row with SQLite's secure_delete followed by
    /// a TRUNCATE checkpoint (checking the sealed bytes are in neither the database nor its WAL).
    /// LUKS keyslot copies are left to the volume wipe and listed as such.
    ///
    /// Idempotent: a copy already gone counts as destroyed. `connect` opens a device by URI.
    public static func destroyAll(
        keyID: String, inventory: Inventory,
        connect: (String) throws -> Connection = ConnectionFactory.libvirt.connect
    ) throws -> KeyDestructionReport {
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "key", id: keyID, timeout: 30)
        defer { lock.unlock() }
        let live = try copies(keyID: keyID, inventory: inventory)
        var items: [KeyDestructionReport.Item] = []
        var connections: [String: Connection] = [:]

        // libvirt secrets first: their file copies are destroyed by the same undefine.
        for copy in live where copy.location == .libvirtSecret {
            let uri = copy.hostURI ?? Connection.defaultURI
            let item = undefineSecret(copy, inventory: inventory) {
                let connection = try connections[uri] ?? connect(uri)
                connections[uri] = connection
                return connection
            }
            items.append(item)
            for file in live where file.location == .libvirtSecretFile && file.hostURI == copy.hostURI
                && file.detail.contains(copy.detail) {
                items.append(try checkSecretFileGone(file, uri: uri, secretUndefined: item.outcome == .destroyed, inventory: inventory))
            }
        }
        for copy in live where copy.location == .tempFile {
            items.append(try shredTemporaryFile(copy, inventory: inventory))
        }
        if let escrow = live.first(where: { $0.location == .escrow }) {
            items.append(try destroyEscrow(copy: escrow, inventory: inventory))
        }
        for copy in live where copy.location == .luksKeyslots {
            var item = KeyDestructionReport.Item(copy)
            item.outcome = .left
            item.how = "wrapped master key in the volume header: destroyed by wiping the volume"
            items.append(item)
        }
        let complete = items.allSatisfy { $0.outcome == .destroyed || $0.outcome == .left }
        try recordDestruction(keyID: keyID, items: items, complete: complete, inventory: inventory)
        return KeyDestructionReport(keyID: keyID, items: items, complete: complete)
    }

    /// Undefines one libvirt secret copy and checks libvirt no longer finds it; a failure is the
    /// item's outcome, not an error of the whole destruction.
    static func undefineSecret(_ copy: KeyCopy, inventory: Inventory,
                               connection: () throws -> Connection) -> KeyDestructionReport.Item {
        var item = KeyDestructionReport.Item(copy)
        do {
            let connection = try connection()
            var how: String
            if let secret = try connection.lookupSecret(uuid: copy.detail) {
                try secret.undefine()
                how = "undefined through libvirt"
            } else {
                how = "already absent from libvirt"
            }
            guard try connection.lookupSecret(uuid: copy.detail) == nil else {
                throw LCMError(.unavailable, "libvirt still lists secret \(copy.detail) after undefine")
            }
            how += "; verified: libvirt no longer finds it"
            try inventory.write { try KeyCopyRegistry.markDestroyed($0, copyID: copy.id, how: how) }
            item.outcome = .destroyed
            item.how = how
            item.verified = true
        } catch {
            item.outcome = .failed
            item.how = "\(error)"
        }
        return item
    }

    /// libvirtd's file behind an undefined secret: removed with it; on this machine its absence is checked.
    static func checkSecretFileGone(_ file: KeyCopy, uri: String, secretUndefined: Bool,
                                    inventory: Inventory) throws -> KeyDestructionReport.Item {
        var item = KeyDestructionReport.Item(file)
        guard secretUndefined else {
            item.outcome = .failed
            item.how = "its secret could not be undefined"
            return item
        }
        var how = "removed by libvirtd with the secret (unlinked, not overwritten)"
        if DiskHost.isLocal(uri: uri) {
            let gone = access(file.detail, F_OK) != 0 && errno == ENOENT
            item.verified = gone
            how += gone ? "; verified: file absent" : "; FILE STILL PRESENT"
            item.outcome = gone ? .destroyed : .failed
        } else {
            how += "; on a remote device: absence not checkable from lcm's machine"
            item.outcome = .destroyed
        }
        if item.outcome == .destroyed {
            try inventory.write { try KeyCopyRegistry.markDestroyed($0, copyID: file.id, how: how) }
        }
        item.how = how
        return item
    }

    /// A temporary key file lcm wrote: shredded, then checked absent.
    static func shredTemporaryFile(_ copy: KeyCopy, inventory: Inventory) throws -> KeyDestructionReport.Item {
        var item = KeyDestructionReport.Item(copy)
        let how = TemporaryKeyFile.shred(path: copy.detail)
        let gone = access(copy.detail, F_OK) != 0
        item.verified = gone
        item.outcome = gone ? .destroyed : .failed
        item.how = how + (gone ? "; verified: file absent" : "; FILE STILL PRESENT")
        if gone { try inventory.write { try KeyCopyRegistry.markDestroyed($0, copyID: copy.id, how: item.how) } }
        return item
    }

    /// The key is destroyed once every copy is (keyslots go with the volume wipe), else the
    /// attempt is an audit event of its own.
    static func recordDestruction(keyID: String, items: [KeyDestructionReport.Item], complete: Bool, inventory: Inventory) throws {
        if complete {
            try inventory.write { db in
                try db.execute(sql: "UPDATE desktopKey SET destroyedAt = ? WHERE id = ? AND destroyedAt IS NULL",
                               arguments: [Date(), keyID])
                try AuditLog.record(db, actor: inventory.actor, objectKind: "key", objectID: keyID, action: "key destroyed",
                                    details: ["copies": String(items.count)])
            }
        } else {
            try inventory.recordEvent(objectKind: "key", objectID: keyID, action: "key destruction incomplete",
                                      outcome: "failed")
        }
    }

    /// Deletes the escrow row under secure_delete, checkpoints the WAL into the database and
    /// truncates it, then checks that the sealed bytes appear in neither file.
    static func destroyEscrow(copy: KeyCopy, inventory: Inventory) throws -> KeyDestructionReport.Item {
        var item = KeyDestructionReport.Item(copy)
        let sealed = try inventory.read { db in
            try Data.fetchOne(db, sql: "SELECT sealed FROM keyEscrow WHERE keyID = ?", arguments: [copy.keyID])
        }
        try inventory.pool.writeWithoutTransaction { db in
            // secure_delete zeroes the freed cells and pages instead of leaving them in free space.
            try db.execute(sql: "PRAGMA secure_delete = ON")
            try db.inTransaction(.immediate) {
                try db.execute(sql: "DELETE FROM keyEscrow WHERE keyID = ?", arguments: [copy.keyID])
                return .commit
            }
        }
        // TRUNCATE copies every WAL frame (including the ones that held the sealed value when it was
        // inserted) into the database and cuts the WAL to zero bytes. Readers can hold it back: retry.
        var checkpointed = false
        for _ in 0..<50 {
            let row = try inventory.pool.writeWithoutTransaction { db in
                try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
            if let row, (row[0] as Int?) == 0 { checkpointed = true; break }
            usleep(100_000)
        }
        let stillEscrowed = try inventory.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM keyEscrow WHERE keyID = ?", arguments: [copy.keyID]) ?? 0
        }
        func residue() -> [String] {
            guard let sealed else { return [] }
            let db = inventory.home.databaseURL.path
            return [db, db + "-wal"].filter { FileScan.contains(path: $0, needle: sealed) }
                .map { URL(fileURLWithPath: $0).lastPathComponent }
        }
        var found = residue()
        var how = "escrow row deleted with secure_delete"
        how += checkpointed ? "; WAL checkpointed and truncated" : "; WAL checkpoint held back by a reader"
        if !found.isEmpty {
            // An old copy survived in a page's free space (written before secure_delete was on for
            // this connection): VACUUM rewrites every page.
            try inventory.pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA secure_delete = ON")
                try db.execute(sql: "VACUUM")
                _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
            how += "; database vacuumed"
            found = residue()
        }
        let clean = stillEscrowed == 0 && found.isEmpty
        how += clean ? "; verified: sealed bytes absent from lcm.db and its WAL"
            : "; sealed bytes still found in \(found.joined(separator: ", "))"
        item.outcome = clean ? .destroyed : .failed
        item.verified = clean
        item.how = how
        if clean {
            try inventory.write { try KeyCopyRegistry.markDestroyed($0, copyID: copy.id, how: how) }
        }
        return item
    }
}

extension DesktopKey {
    init(row: Row) {
        self.init(id: row["id"], ownerKind: row["ownerKind"], ownerID: row["ownerID"],
                  createdAt: row["createdAt"], destroyedAt: row["destroyedAt"])
    }
}

/// What `DesktopKey.destroyAll` did with each copy of a key.
public struct KeyDestructionReport: Codable, Sendable {
    /// What happened to one copy.
    public enum Outcome: String, Codable, Sendable {
        case destroyed
        case failed
        /// Not lcm's to destroy here (LUKS keyslots: the volume wipe destroys them).
        case left
    }

    /// One registered copy and what became of it.
    public struct Item: Codable, Sendable {
        public var location: KeyCopyLocation
        public var hostURI: String?
        public var detail: String
        public var outcome: Outcome
        public var how: String
        /// Absence was checked after the removal, not just requested.
        public var verified: Bool

        init(_ copy: KeyCopy) {
            location = copy.location; hostURI = copy.hostURI; detail = copy.detail
            outcome = .failed; how = ""; verified = false
        }
    }

    public var keyID: String
    public var items: [Item]
    /// Every copy lcm can destroy is destroyed (keyslot copies may remain, listed as `left`).
    public var complete: Bool
}

/// Scans the inventory's files for a byte string (through descriptors SQLite's locks survive).
enum FileScan {
    static func contains(path: String, needle: Data) -> Bool { HeldOpenFile.contains(path, needle: needle) }
}
