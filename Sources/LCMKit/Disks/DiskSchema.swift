import GRDB

extension InventorySchema {
    /// Schema v3 (issue 5): desktop disk keys, their escrow, and the registry of every place a
    /// copy of a key lives. Registered after the earlier migrations by `migrator`.
    static func registerDiskMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-disks") { db in
            // One row per key, kept after the key is destroyed: it is the record that proves it.
            try db.create(table: "desktopKey") { t in
                t.primaryKey("id", .text)                   // UUID, also the libvirt secret's usage id suffix
                t.column("ownerKind", .text).notNull()      // "desktop", ...
                t.column("ownerID", .text).notNull()
                t.column("algorithm", .text).notNull()      // how the passphrase was made ("random-256-hex")
                t.column("createdAt", .datetime).notNull()
                t.column("destroyedAt", .datetime)
            }
            try db.create(index: "desktopKey_owner", on: "desktopKey", columns: ["ownerKind", "ownerID"])
            // The passphrase sealed under the master key. Deleted (secure_delete) when the key is destroyed.
            try db.create(table: "keyEscrow") { t in
                t.primaryKey("keyID", .text).references("desktopKey", onDelete: .restrict)
                t.column("sealed", .blob).notNull()
                t.column("createdAt", .datetime).notNull()
            }
            // Every copy of a key: libvirt secret (and its file on the device), escrow, temporary
            // files, LUKS keyslots in a volume header. Rows are never deleted, only marked destroyed.
            try db.create(table: "keyCopy") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("keyID", .text).notNull().references("desktopKey", onDelete: .restrict)
                t.column("location", .text).notNull()       // KeyCopyLocation raw value
                t.column("hostURI", .text)                  // libvirt URI of the host holding it; NULL: lcm's host
                t.column("detail", .text).notNull()         // secret UUID, file path, pool/volume
                t.column("createdAt", .datetime).notNull()
                t.column("destroyedAt", .datetime)
                t.column("destroyedHow", .text)
            }
            try db.create(index: "keyCopy_key", on: "keyCopy", columns: ["keyID"])
            try db.execute(sql: """
                CREATE INDEX keyCopy_live ON keyCopy(keyID) WHERE destroyedAt IS NULL;
                """)
        }
    }
}
