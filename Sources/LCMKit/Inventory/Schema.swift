import GRDB

/// The inventory schema, as ordered migrations. Applied migrations are never edited: a change to
/// the schema is a new migration appended here.
enum InventorySchema {
    /// Written into SQLite's header (`PRAGMA application_id`) so lcm can tell its own database
    /// from someone else's SQLite file before touching it. ASCII "LCM1".
    static let applicationID: Int32 = 0x4C43_4D31

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-model") { db in
            try db.execute(sql: "PRAGMA application_id = \(applicationID)")

            try db.create(table: "user") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("username", .text).notNull().unique()
                t.column("fullName", .text)
                t.column("email", .text)
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "profile") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("spec", .text).notNull()           // JSON: requirements and VM sizing
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(table: "device") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("assetTag", .text).notNull().unique()
                t.column("serial", .text).notNull().unique()
                t.column("vendor", .text)
                t.column("model", .text)
                t.column("orderNumber", .text)
                t.column("purchaseDate", .text)             // ISO date, no time
                t.column("costCents", .integer)
                t.column("currency", .text)
                t.column("supplier", .text)
                t.column("warrantyMonths", .integer)
                t.column("profileID", .integer).references("profile", onDelete: .restrict)
                t.column("libvirtURI", .text)
                t.column("status", .text).notNull()
                t.column("userID", .integer).references("user", onDelete: .restrict)
                t.column("notes", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(index: "device_status", on: "device", columns: ["status"])
            try db.create(table: "image") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("description", .text)
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "imageVersion") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("imageID", .integer).notNull().references("image", onDelete: .restrict)
                t.column("version", .text).notNull()
                t.column("parentID", .integer).references("imageVersion", onDelete: .restrict)
                t.column("path", .text).notNull()
                t.column("format", .text).notNull()
                t.column("virtualSize", .integer)
                t.column("sha256", .text)
                t.column("source", .text)
                t.column("sourceSHA256", .text)
                t.column("producedBy", .text)
                t.column("operator", .text)
                t.column("createdAt", .datetime).notNull()
                t.uniqueKey(["imageID", "version"])
            }
            try db.create(table: "desktop") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("deviceID", .integer).references("device", onDelete: .restrict)
                t.column("userID", .integer).references("user", onDelete: .restrict)
                t.column("imageVersionID", .integer).references("imageVersion", onDelete: .restrict)
                t.column("status", .text).notNull()
                t.column("domainUUID", .text)
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
            }
            try db.create(index: "desktop_device", on: "desktop", columns: ["deviceID"])
            // Every file a desktop owns on its device: OS layer, user data, NVRAM, TPM state, snapshots.
            try db.create(table: "volume") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("desktopID", .integer).notNull().references("desktop", onDelete: .restrict)
                t.column("role", .text).notNull()
                t.column("pool", .text)
                t.column("name", .text).notNull()
                t.column("path", .text)
                t.column("format", .text)
                t.column("encrypted", .boolean).notNull().defaults(to: false)
                t.column("discard", .boolean).notNull().defaults(to: false)
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "licensePool") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                t.column("product", .text).notNull()
                t.column("edition", .text)
                t.column("protectedKey", .blob)              // sealed under the master key, never plain
                t.column("seats", .integer).notNull()
                t.column("expiresAt", .text)
                t.column("createdAt", .datetime).notNull()
            }
            try db.create(table: "licenseSeat") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("poolID", .integer).notNull().references("licensePool", onDelete: .restrict)
                t.column("desktopID", .integer).notNull().references("desktop", onDelete: .restrict)
                t.column("assignedAt", .datetime).notNull()
                t.column("releasedAt", .datetime)
            }
            // Check-out / check-in history of devices and desktops to users.
            try db.create(table: "assignment") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("objectKind", .text).notNull()
                t.column("objectID", .integer).notNull()
                t.column("userID", .integer).notNull().references("user", onDelete: .restrict)
                t.column("checkedOutAt", .datetime).notNull()
                t.column("checkedInAt", .datetime)
            }

            // The audit log is append-only: the database itself refuses edits and deletions.
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .datetime).notNull()
                t.column("osUser", .text).notNull()
                t.column("pid", .integer).notNull()
                t.column("command", .text).notNull()
                t.column("objectKind", .text).notNull()
                t.column("objectID", .text).notNull()
                t.column("action", .text).notNull()
                t.column("outcome", .text).notNull()
                t.column("details", .text)
            }
            try db.create(index: "event_object", on: "event", columns: ["objectKind", "objectID"])
            try db.execute(sql: """
                CREATE TRIGGER event_no_update BEFORE UPDATE ON event
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER event_no_delete BEFORE DELETE ON event
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)

            // The operations journal (see OperationJournal.swift).
            try db.create(table: "operation") { t in
                t.primaryKey("id", .text)
                t.column("kind", .text).notNull()
                t.column("objectKind", .text).notNull()
                t.column("objectID", .text).notNull()
                t.column("state", .text).notNull()
                t.column("plan", .text).notNull()
                t.column("parameters", .text).notNull()
                t.column("ownerPID", .integer).notNull()
                t.column("startedAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.column("failure", .text)
            }
            try db.create(index: "operation_state", on: "operation", columns: ["state"])
            try db.create(table: "operationStep") { t in
                t.column("operationID", .text).notNull().references("operation", onDelete: .cascade)
                t.column("stepIndex", .integer).notNull()
                t.column("name", .text).notNull()
                t.column("state", .text).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.primaryKey(["operationID", "stepIndex"])
            }
            // Things a run leaves on the machine until it finishes: helper processes, sockets, temp files.
            try db.create(table: "operationResource") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("operationID", .text).notNull().references("operation", onDelete: .cascade)
                t.column("kind", .text).notNull()
                t.column("value", .text).notNull()
                t.column("processStartTime", .integer)
                t.column("released", .boolean).notNull().defaults(to: false)
                t.column("createdAt", .datetime).notNull()
            }
        }
        // Procure phase: device status history, and indexes that make the rules the procure code
        // checks (one open check-out per object, one active seat per desktop and pool) hold even
        // against a buggy or concurrent writer.
        migrator.registerMigration("v2-procure") { db in
            try db.create(table: "deviceStatusChange") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("deviceID", .integer).notNull().references("device", onDelete: .restrict)
                t.column("fromStatus", .text)                // NULL: the status the device arrived with
                t.column("toStatus", .text).notNull()
                t.column("changedAt", .datetime).notNull()
                t.column("osUser", .text).notNull()
                t.column("note", .text)
            }
            try db.create(index: "deviceStatusChange_device", on: "deviceStatusChange", columns: ["deviceID"])
            try db.execute(sql: """
                CREATE INDEX assignment_object ON assignment(objectKind, objectID);
                CREATE UNIQUE INDEX assignment_open ON assignment(objectKind, objectID) WHERE checkedInAt IS NULL;
                CREATE INDEX licenseSeat_desktop ON licenseSeat(desktopID);
                CREATE UNIQUE INDEX licenseSeat_active ON licenseSeat(poolID, desktopID) WHERE releasedAt IS NULL;
                CREATE INDEX device_profile ON device(profileID);
                """)
        }
        registerDiskMigrations(&migrator)
        registerImageMigrations(&migrator)
        registerDeployMigrations(&migrator)
        registerPatchMigrations(&migrator)
        registerRetireMigrations(&migrator)
        registerDeployGenerationMigrations(&migrator)
        return migrator
    }
}
