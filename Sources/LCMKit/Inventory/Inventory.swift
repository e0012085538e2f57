import Foundation
import GRDB

/// The inventory: one SQLite file (WAL) at `$LCM_HOME/lcm.db` holding devices, desktops, users,
/// images, licenses, the audit log and the operations journal.
///
/// Many lcm processes may use it at once (overlapping cron jobs): every write is an IMMEDIATE
/// transaction that waits on a busy timeout instead of failing with "database is locked".
public final class Inventory: Sendable {
    public let home: LCMHome
    public let actor: AuditActor
    let pool: DatabasePool

    /// How long a writer waits for another process's transaction before giving up.
    public static let busyTimeout: TimeInterval = 30

    private init(home: LCMHome, actor: AuditActor, pool: DatabasePool) {
        self.home = home; self.actor = actor; self.pool = pool
    }

    /// Opens (creating if needed) and migrates the inventory. Refuses, without touching it,
    /// a file that is not an lcm database or that a newer lcm wrote.
    public static func open(home: LCMHome, actor: AuditActor = .current()) throws -> Inventory {
        try home.prepare()
        let path = home.databaseURL.path
        // Until the file is a migrated WAL database, concurrent first runs can deadlock in SQLite's
        // rollback-journal locking (switching to WAL needs an exclusive lock), which returns BUSY
        // without waiting. So the first opens are serialized; later ones skip the lock.
        var setupLock: FileLock?
        if !isSettledDatabase(at: path) {
            let lock = FileLock(path: home.locksURL.appendingPathComponent("migrate.lock").path)
            guard try lock.lock(timeout: busyTimeout) else {
                throw LCMError(.busy, "another lcm run is creating or upgrading the inventory", hint: "retry in a moment")
            }
            setupLock = lock
        }
        defer { setupLock?.unlock() }
        try checkExistingFile(at: path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "lcm.inventory"
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw translate(error, path: path)
        }
        try? FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        let inventory = Inventory(home: home, actor: actor, pool: pool)
        try inventory.migrateIfNeeded()
        return inventory
    }

    /// Schema state without changing anything: for `lcm doctor`.
    public static func schemaStatus(home: LCMHome) -> (exists: Bool, current: Bool, detail: String) {
        let path = home.databaseURL.path
        guard FileManager.default.fileExists(atPath: path) else {
            return (false, false, "no database yet at \(path); it is created on first use")
        }
        do {
            try checkExistingFile(at: path)
            let queue = try readOnlyQueue(path)
            let applied = try queue.read { try InventorySchema.migrator.appliedIdentifiers($0) }
            let known = Set(InventorySchema.migrator.migrations)
            let missing = known.subtracting(applied)
            if missing.isEmpty { return (true, true, "schema current (\(applied.count) migrations) at \(path)") }
            return (true, false, "\(missing.count) migration(s) pending at \(path); the next lcm command applies them")
        } catch let error as LCMError {
            return (true, false, error.description)
        } catch {
            return (true, false, "\(error)")
        }
    }

    static func readOnlyQueue(_ path: String) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        return try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Looks at an existing file read-only before any write: a foreign SQLite file, a non-SQLite file
    /// or a database from a newer lcm must be refused with the file left exactly as it was.
    static func checkExistingFile(at path: String) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }
        if (attributes[.size] as? NSNumber)?.intValue ?? 0 == 0 { return }
        do {
            let queue = try readOnlyQueue(path)
            try queue.read { db in
                let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
                // GRDB creates grdb_migrations before the first migration's transaction (which sets
                // application_id), so a concurrent first run can see that table alone: not foreign.
                let tableCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE tbl_name <> 'grdb_migrations'") ?? 0
                if applicationID != InventorySchema.applicationID && (applicationID != 0 || tableCount > 0) {
                    throw LCMError(.databaseError, "\(path) is an SQLite database that lcm did not create",
                                   hint: "move it away or point --home at another directory")
                }
                if tableCount > 0 {
                    let applied = try InventorySchema.migrator.appliedIdentifiers(db)
                    let unknown = applied.subtracting(InventorySchema.migrator.migrations)
                    if !unknown.isEmpty {
                        throw LCMError(.databaseError, "\(path) was written by a newer lcm (schema \(unknown.sorted().joined(separator: ", ")))",
                                       hint: "upgrade lcm; this version must not change that database")
                    }
                }
            }
        } catch let error as LCMError {
            throw error
        } catch {
            throw translate(error, path: path)
        }
    }

    /// True when the file is already in WAL mode with every known migration applied: opening it
    /// needs no serialization. Any doubt (missing, empty, unreadable, behind) answers false.
    private static func isSettledDatabase(at path: String) -> Bool {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              ((attributes[.size] as? NSNumber)?.intValue ?? 0) > 0 else { return false }
        // SQLite header bytes 18-19 are 2 in WAL mode; checked from the file so no lock is taken
        // (through a descriptor never closed: see HeldOpenFile).
        guard let header = HeldOpenFile.read(path, offset: 0, count: 20), header.count == 20, header[18] == 2, header[19] == 2 else {
            return false
        }
        guard let queue = try? readOnlyQueue(path),
              let done = try? queue.read({ try InventorySchema.migrator.hasCompletedMigrations($0) }) else { return false }
        return done
    }

    /// Applies pending migrations. The caller holds the setup lock whenever any could be pending.
    private func migrateIfNeeded() throws {
        let migrator = InventorySchema.migrator
        do {
            if try pool.read({ try migrator.hasCompletedMigrations($0) }) { return }
            try migrator.migrate(pool)
        } catch let error as LCMError {
            throw error
        } catch {
            throw Self.translate(error, path: home.databaseURL.path)
        }
    }

    /// Runs `body` in one IMMEDIATE transaction: the write lock is taken up front, so the
    /// transaction never has to upgrade from read to write (which cannot wait on a busy timeout).
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw LCMError(.failure, "transaction produced no result") }
                return result
            }
        } catch let error as DatabaseError {
            throw Self.translate(error, path: home.databaseURL.path)
        }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as DatabaseError {
            throw Self.translate(error, path: home.databaseURL.path)
        }
    }

    /// Records an audit event on its own (for actions whose change is outside the database).
    public func recordEvent(objectKind: String, objectID: String, action: String, outcome: String = "ok",
                            details: [String: String] = [:]) throws {
        try write { db in
            try AuditLog.record(db, actor: actor, objectKind: objectKind, objectID: objectID,
                                action: action, outcome: outcome, details: details)
        }
    }

    /// Maps SQLite's errors to the user-facing ones with the documented exit codes.
    static func translate(_ error: Error, path: String) -> LCMError {
        guard let dbError = error as? DatabaseError else {
            return LCMError(.failure, "inventory error: \(error)")
        }
        switch dbError.resultCode {
        case .SQLITE_NOTADB:
            return LCMError(.databaseError, "\(path) is not an SQLite database",
                            hint: "move it away or point --home at another directory")
        case .SQLITE_CORRUPT:
            return LCMError(.databaseError, "the inventory \(path) is corrupt: \(dbError.message ?? "")",
                            hint: "restore it from a backup; keep the damaged file for analysis")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return LCMError(.busy, "the inventory stayed locked by another lcm run for \(Int(busyTimeout)) s",
                            hint: "retry when the other run has finished")
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
            return LCMError(.cannotWrite, "cannot write the inventory \(path): \(dbError.message ?? "")",
                            hint: "check the permissions of lcm's home, or use --home")
        case .SQLITE_FULL, .SQLITE_IOERR:
            return LCMError(.cannotWrite, "cannot write the inventory \(path): \(dbError.message ?? "")",
                            hint: "free space on that filesystem")
        case .SQLITE_CONSTRAINT:
            return LCMError(.conflict, "the inventory refused the change: \(dbError.message ?? "")")
        default:
            return LCMError(.failure, "inventory error: \(dbError.message ?? "\(dbError)")")
        }
    }
}
