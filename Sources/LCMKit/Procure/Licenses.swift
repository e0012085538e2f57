import Foundation
import GRDB

/// License pools: a product, an optional product key kept sealed under the master key, a number
/// of seats and an expiry. Deploy takes a seat for a desktop; retire gives it back.
public enum Licenses {
    /// Use of one pool, for reports.
    public struct Usage: Codable, Sendable, Equatable {
        public var pool: String
        public var product: String
        public var edition: String?
        public var seats: Int
        public var used: Int
        public var free: Int { max(0, seats - used) }
        public var expires: String?
        public var keyStored: Bool
    }

    static func purpose(_ pool: String) -> String { "license-pool:\(pool)" }

    /// The text of a product key file (`--key-file`): a key is 29 characters, a file of keys for
    /// a volume license a few KiB, so 64 KiB bounds what a wrong file costs.
    public static func readKeyFile(_ path: String) throws -> String {
        var read = try InputFile(path, what: "product key file").contents(limit: 64 << 10)
        var bytes = [UInt8](read)
        defer { SecretBytes.wipe(&read); SecretBytes.wipe(&bytes) }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw LCMError(.dataError, "the key file \(path) is not UTF-8 text", hint: "save the key as plain text")
        }
        return text
    }

    public static func find(_ db: Database, name: String) throws -> LicensePool {
        guard let pool = try LicensePool.filter(Column("name") == name).fetchOne(db) else {
            throw LCMError.notFound("license pool '\(name)'", hint: "`lcm inventory licenses` shows the pools")
        }
        return pool
    }

    /// Seats a desktop holds now.
    public static func held(_ db: Database, desktopID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM licenseSeat WHERE desktopID = ? AND releasedAt IS NULL", arguments: [desktopID]) ?? 0
    }

    /// Seats in use (taken and not released).
    public static func used(_ db: Database, poolID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM licenseSeat WHERE poolID = ? AND releasedAt IS NULL", arguments: [poolID]) ?? 0
    }

    /// Creates a pool. The key, if any, is sealed before it reaches the database; it never appears
    /// in the audit log (only the fact that one was stored).
    @discardableResult
    public static func addPool(_ db: Database, name: String, product: String, edition: String?, seats: Int,
                               expires: String?, key: String?, masterKey: MasterKey?, actor: AuditActor,
                               now: Date = Date()) throws -> LicensePool {
        try validate(name: name, product: product, seats: seats, expires: expires)
        if try LicensePool.filter(Column("name") == name).fetchCount(db) > 0 {
            throw LCMError(.conflict, "license pool '\(name)' already exists",
                           hint: "change it with `lcm procure license set \(name)`")
        }
        var pool = LicensePool(name: name, product: product, edition: edition, seats: seats, expiresAt: expires, createdAt: now)
        if let key {
            guard let masterKey else { throw LCMError(.failure, "a key was given without a master key to seal it") }
            pool.protectedKey = try sealKey(key, masterKey: masterKey, pool: name)
        }
        try pool.insert(db)
        var details = ["product": product, "seats": String(seats), "key": key == nil ? "none" : "stored sealed"]
        if let edition { details["edition"] = edition }
        if let expires { details["expires"] = expires }
        try AuditLog.record(db, actor: actor, objectKind: "license", objectID: name, action: "add", details: details)
        return pool
    }

    /// Changes seats, expiry or key. Seats below the number in use are refused.
    @discardableResult
    public static func updatePool(_ db: Database, name: String, seats: Int? = nil, expires: String?? = nil,
                                  edition: String?? = nil, key: String? = nil, masterKey: MasterKey? = nil,
                                  actor: AuditActor) throws -> LicensePool {
        var pool = try find(db, name: name)
        var details: [String: String] = [:]
        if let seats {
            try validate(name: name, product: pool.product, seats: seats, expires: nil)
            let inUse = try used(db, poolID: pool.id!)
            guard seats >= inUse else {
                throw LCMError(.conflict, "license pool '\(name)' has \(inUse) seat(s) in use; cannot shrink it to \(seats)",
                               hint: "release seats first (retire desktops) or keep at least \(inUse)")
            }
            details["seats"] = "\(pool.seats) -> \(seats)"
            pool.seats = seats
        }
        if let expires {
            if let date = expires, !AssetFields.isValidDate(date) {
                throw LCMError(.usage, "expiry '\(date)' is not a date: use YYYY-MM-DD")
            }
            details["expires"] = "\(pool.expiresAt ?? "never") -> \(expires ?? "never")"
            pool.expiresAt = expires
        }
        if let edition {
            details["edition"] = "\(pool.edition ?? "") -> \(edition ?? "")"
            pool.edition = edition
        }
        if let key {
            guard let masterKey else { throw LCMError(.failure, "a key was given without a master key to seal it") }
            pool.protectedKey = try sealKey(key, masterKey: masterKey, pool: name)
            details["key"] = "replaced"
        }
        guard !details.isEmpty else { throw LCMError(.usage, "nothing to change", hint: "pass --seats, --expires, --edition or a key") }
        try pool.update(db)
        try AuditLog.record(db, actor: actor, objectKind: "license", objectID: name, action: "update", details: details)
        return pool
    }

    /// Removes a pool with no seat in use (its seat history goes with it; the audit log keeps it).
    public static func removePool(_ db: Database, name: String, actor: AuditActor) throws {
        let pool = try find(db, name: name)
        let inUse = try used(db, poolID: pool.id!)
        guard inUse == 0 else {
            throw LCMError(.conflict, "license pool '\(name)' has \(inUse) seat(s) in use", hint: "retire those desktops first")
        }
        try db.execute(sql: "DELETE FROM licenseSeat WHERE poolID = ?", arguments: [pool.id])
        _ = try LicensePool.deleteOne(db, key: pool.id)
        try AuditLog.record(db, actor: actor, objectKind: "license", objectID: name, action: "remove")
    }

    /// Takes a seat of `pool` for a desktop. Idempotent: a desktop already holding a seat of the pool
    /// keeps it. Refused (conflict) when every seat is taken or the pool has expired.
    @discardableResult
    public static func takeSeat(_ db: Database, pool name: String, desktopID: Int64, actor: AuditActor = .current(),
                                now: Date = Date()) throws -> LicenseSeat {
        let pool = try find(db, name: name)
        guard let desktopName = try DesktopStore.name(db, id: desktopID) else {
            throw LCMError.notFound("desktop #\(desktopID)")
        }
        if let held = try LicenseSeat.filter(Column("poolID") == pool.id && Column("desktopID") == desktopID && Column("releasedAt") == nil)
            .fetchOne(db) {
            return held
        }
        if let expires = pool.expiresAt, expires < AssetFields.dayString(now) {
            throw LCMError(.conflict, "license pool '\(name)' expired on \(expires)",
                           hint: "renew it: lcm procure license set \(name) --expires YYYY-MM-DD")
        }
        let inUse = try used(db, poolID: pool.id!)
        guard inUse < pool.seats else {
            throw LCMError(.conflict, "license pool '\(name)' has no free seat (\(inUse) of \(pool.seats) in use)",
                           hint: "add seats with `lcm procure license set \(name) --seats N` or retire a desktop")
        }
        var seat = LicenseSeat(poolID: pool.id!, desktopID: desktopID, assignedAt: now)
        try seat.insert(db)
        try AuditLog.record(db, actor: actor, objectKind: "license", objectID: name, action: "take-seat",
                            details: ["desktop": desktopName, "used": "\(inUse + 1)/\(pool.seats)"])
        return seat
    }

    /// Gives back every seat a desktop holds. Returns how many were released (0 when none: retrying is safe).
    @discardableResult
    public static func releaseSeats(_ db: Database, desktopID: Int64, actor: AuditActor = .current(), now: Date = Date()) throws -> Int {
        let held = try DesktopReports.openSeatRows(db, desktopID: desktopID)
        for row in held {
            try db.execute(sql: "UPDATE licenseSeat SET releasedAt = ? WHERE id = ?", arguments: [now, row["id"] as Int64])
            try AuditLog.record(db, actor: actor, objectKind: "license", objectID: row["pool"], action: "release-seat",
                                details: ["desktop": (row["desktop"] as String?) ?? "#\(desktopID)"])
        }
        return held.count
    }

    /// The key sealed for the pool; the plain bytes made on the way are wiped.
    static func sealKey(_ key: String, masterKey: MasterKey, pool: String) throws -> Data {
        var plain = Data(try normalizedKey(key).utf8)
        defer { DiskPassphrase.wipe(&plain) }
        return try masterKey.seal(plain, purpose: purpose(pool)).data
    }

    /// The product key in clear, for `license show --reveal-key`. Every reveal is audited.
    public static func revealKey(_ db: Database, pool name: String, masterKey: MasterKey, actor: AuditActor) throws -> String {
        let pool = try find(db, name: name)
        guard let sealed = pool.protectedKey else {
            throw LCMError.notFound("a key for license pool '\(name)'", hint: "store one with `lcm procure license set \(name) --key-file FILE`")
        }
        var plain = try masterKey.open(SealedSecret(data: sealed), purpose: purpose(name))
        defer { DiskPassphrase.wipe(&plain) }
        try AuditLog.record(db, actor: actor, objectKind: "license", objectID: name, action: "reveal-key")
        return String(decoding: plain, as: UTF8.self)
    }

    /// A pool as `license show` reports it.
    public struct Details: Codable, Sendable, Equatable {
        public var pool: String
        public var product: String
        public var edition: String?
        public var seats: Int
        public var used: Int
        public var free: Int
        public var expires: String?
        public var keyStored: Bool
        /// Only when revealed.
        public var key: String?
        public var holders: [Holder]

        public struct Holder: Codable, Sendable, Equatable {
            public var desktop: String
            public var since: Date
        }

        enum CodingKeys: String, CodingKey {
            case pool, product, edition, seats, used, free, expires, keyStored = "key_stored", key, holders
        }
    }

    /// A pool, the desktops holding its seats, and with `revealWith` its key in clear (audited).
    public static func details(_ db: Database, pool name: String, revealWith masterKey: MasterKey?, actor: AuditActor) throws -> Details {
        let pool = try find(db, name: name)
        let inUse = try used(db, poolID: pool.id!)
        let holders = try DesktopReports.seatHolderRows(db, poolID: pool.id!).map { Details.Holder(desktop: $0["name"], since: $0["assignedAt"]) }
        let key = try masterKey.map { try revealKey(db, pool: name, masterKey: $0, actor: actor) }
        return Details(pool: pool.name, product: pool.product, edition: pool.edition, seats: pool.seats, used: inUse,
                       free: max(0, pool.seats - inUse), expires: pool.expiresAt, keyStored: pool.protectedKey != nil,
                       key: key, holders: holders)
    }

    public static func usage(_ db: Database) throws -> [Usage] {
        try Row.fetchAll(db, sql: """
            SELECT l.name, l.product, l.edition, l.seats, l.expiresAt, l.protectedKey IS NOT NULL AS keyStored,
                   (SELECT count(*) FROM licenseSeat s WHERE s.poolID = l.id AND s.releasedAt IS NULL) AS used
            FROM licensePool l ORDER BY l.name
            """).map {
            Usage(pool: $0["name"], product: $0["product"], edition: $0["edition"], seats: $0["seats"], used: $0["used"],
                  expires: $0["expiresAt"], keyStored: $0["keyStored"])
        }
    }

    /// Keys come from files and stdin: drop surrounding whitespace and the trailing newline, refuse
    /// empty or binary content.
    public static func normalizedKey(_ raw: String) throws -> String {
        let key = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty else { throw LCMError(.dataError, "the product key is empty", hint: "put the key in the file or on stdin") }
        guard key.count <= 1024, key.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else {
            throw LCMError(.dataError, "the product key must be one line of printable text (at most 1024 characters)")
        }
        return key
    }

    static func validate(name: String, product: String, seats: Int, expires: String?) throws {
        guard RequirementProfile.isValidName(name) else {
            throw LCMError(.usage, "pool name '\(name)' must be 1-64 letters, digits, '.', '-' or '_'")
        }
        guard !product.trimmingCharacters(in: .whitespaces).isEmpty else { throw LCMError(.usage, "the product must not be empty") }
        guard seats >= 0, seats <= 10_000_000 else { throw LCMError(.usage, "seats must be between 0 and 10000000") }
        if let expires, !AssetFields.isValidDate(expires) {
            throw LCMError(.usage, "expiry '\(expires)' is not a date: use YYYY-MM-DD")
        }
    }
}
