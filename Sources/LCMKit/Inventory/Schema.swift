import GRDB

/// The inventory schema: one ordered list of migrations, the only place the schema changes.
/// An applied migration is never edited and its identifier never changes (existing lcm.db files
/// record them): a change to the schema is a new migration appended to `migrations`.
enum InventorySchema {
    /// Written into SQLite's header (`PRAGMA application_id`) so lcm can tell its own database
    /// from someone else's SQLite file before touching it. ASCII "LCM1".
    static let applicationID: Int32 = 0x4C43_4D31

    /// Every migration, in the order it is applied.
    static let migrations: [(identifier: String, migrate: @Sendable (Database) throws -> Void)] = [
        ("v1-model", v1Model),
        ("v2-procure", v2Procure),
        ("v3-disks", v3Disks),
        ("v4-images", v4Images),
        ("v5-deploy", v5Deploy),
        ("v6-deploy-allocation", v6DeployAllocation),
        ("v7-patch", v7Patch),
        ("v8-patch-medium", v8PatchMedium),
        ("v9-retire", v9Retire),
        ("v10-deploy-generation", v10DeployGeneration),
    ]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.identifier, migrate: migration.migrate)
        }
        return migrator
    }

    /// Users, profiles, devices, images, desktops, volumes, licenses, assignments, the append-only
    /// audit log and the operations journal. Split by table into the functions below; the order
    /// the tables are made in is the order they always were.
    private static func v1Model(_ db: Database) throws {
        try db.execute(sql: "PRAGMA application_id = \(applicationID)")
        try v1People(db)
        try v1Devices(db)
        try v1Images(db)
        try v1Desktops(db)
        try v1Licenses(db)
        try v1Assignments(db)
        try v1AuditLog(db)
        try v1Journal(db)
    }

    /// Who desktops and devices are assigned to.
    private static func v1People(_ db: Database) throws {
        try db.create(table: "user") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("username", .text).notNull().unique()
            t.column("fullName", .text)
            t.column("email", .text)
            t.column("createdAt", .datetime).notNull()
        }
    }

    /// Requirement profiles and the devices procured against them.
    private static func v1Devices(_ db: Database) throws {
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
    }

    /// Golden images and their versions.
    private static func v1Images(_ db: Database) throws {
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
    }

    /// Desktops and the volumes each owns.
    private static func v1Desktops(_ db: Database) throws {
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
    }

    /// License pools (keys sealed) and the seats desktops hold.
    private static func v1Licenses(_ db: Database) throws {
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
    }

    private static func v1Assignments(_ db: Database) throws {
        // Check-out / check-in history of devices and desktops to users.
        try db.create(table: "assignment") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("objectKind", .text).notNull()
            t.column("objectID", .integer).notNull()
            t.column("userID", .integer).notNull().references("user", onDelete: .restrict)
            t.column("checkedOutAt", .datetime).notNull()
            t.column("checkedInAt", .datetime)
        }
    }

    private static func v1AuditLog(_ db: Database) throws {
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
    }

    private static func v1Journal(_ db: Database) throws {
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

    /// Procure: device status history, and indexes that make the rules the procure code checks (one
    /// open check-out per object, one active seat per desktop and pool) hold even against a buggy or
    /// concurrent writer.
    private static func v2Procure(_ db: Database) throws {
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

    /// Disks (issue 5): desktop disk keys, their escrow, and the registry of every place a copy of a
    /// key lives.
    private static func v3Disks(_ db: Database) throws {
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

    /// Images (issue 6): what an image version holds (its inspection), how it is stored, and removal
    /// that keeps the row, so lineage and provenance stay traceable after the file is gone.
    private static func v4Images(_ db: Database) throws {
        try db.alter(table: "imageVersion") { t in
            t.add(column: "inspection", .text)                  // WindowsInspection as JSON
            t.add(column: "fileSize", .integer)                 // bytes of the stored qcow2
            t.add(column: "compressed", .boolean).notNull().defaults(to: false)
            t.add(column: "sourceFormat", .text)                // what qemu-img read: raw, vmdk, vpc, ...
            t.add(column: "note", .text)                        // what produced it, in words
            t.add(column: "removedAt", .datetime)               // file deleted; the row stays for lineage
            t.add(column: "verifiedAt", .datetime)              // last `lcm image verify` that matched
        }
        try db.create(index: "imageVersion_parent", on: "imageVersion", columns: ["parentID"])
    }

    /// Deploy (issue 7): where each golden version sits on each device's host, and how far each
    /// desktop's deployment got, so a rerun completes only what is missing.
    private static func v5Deploy(_ db: Database) throws {
        // A golden version uploaded into a device's pool: checked by SHA-256 after the upload,
        // never written afterwards (desktops' OS layers are overlays on it).
        try db.create(table: "hostImage") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("uri", .text).notNull()
            t.column("pool", .text).notNull()
            t.column("volume", .text).notNull()
            t.column("path", .text).notNull()               // on the device, for backing chains and domain XML
            t.column("imageVersionID", .integer).notNull().references("imageVersion", onDelete: .restrict)
            t.column("sha256", .text).notNull()
            t.column("bytes", .integer).notNull()
            t.column("uploadedAt", .datetime).notNull()
            t.uniqueKey(["uri", "pool", "volume"])
        }
        try db.alter(table: "desktop") { t in
            t.add(column: "stage", .text)                   // DeployStage raw value
            t.add(column: "settings", .text)                // DesktopSettings as JSON (no secrets)
            t.add(column: "keyID", .text)                   // its disk/TPM key; NULL with --no-encrypt
            t.add(column: "failure", .text)                 // the last deploy failure, cleared on success
        }
        try db.alter(table: "volume") { t in
            t.add(column: "backing", .text)                 // path of the backing file on the device
            t.add(column: "virtualSize", .integer)
        }
        try db.create(index: "volume_desktop", on: "volume", columns: ["desktopID"])
    }

    /// Deploy: the user-data disk's allocation when deploy handed it over.
    private static func v6DeployAllocation(_ db: Database) throws {
        try db.alter(table: "volume") { t in
            // Bytes allocated when deploy handed the volume over: a user-data disk that has
            // grown since holds data someone wrote (see DesktopRemoval).
            t.add(column: "deployedAllocation", .integer)
        }
    }

    /// Patch (issue 8): every patch item given to every target, with its state over time.
    private static func v7Patch(_ db: Database) throws {
        // One file of one `manage patch` run on one target (a desktop or a golden version).
        // Rows are never deleted while their target exists: they are the patch history.
        try db.create(table: "patchItem") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("runID", .text).notNull()              // shared by the items of one run
            t.column("desktopID", .integer).references("desktop", onDelete: .cascade)
            t.column("imageVersionID", .integer).references("imageVersion", onDelete: .restrict)
            t.column("file", .text).notNull()               // file name on lcm's machine
            t.column("kind", .text).notNull()               // StagedItem.Kind raw value
            t.column("sha256", .text).notNull()
            t.column("bytes", .integer).notNull()
            t.column("queueFile", .text)                    // NNN-name.kind in the image's boot queue
            t.column("state", .text).notNull()              // PatchItemState raw value
            t.column("exitCode", .integer)                  // as the runner logged it
            t.column("rebootNeeded", .boolean)
            t.column("layer", .text)                        // the OS-layer volume (desktops) it went into
            t.column("createdAt", .datetime).notNull()
            t.column("appliedAt", .datetime)                // written into the image
            t.column("startedAt", .datetime)                // run by the guest (runner.log)
            t.column("endedAt", .datetime)
            t.column("checkedAt", .datetime)                // last `patch status` read-back
            t.column("detail", .text)                       // why it failed or waits
            t.check(sql: "(desktopID IS NULL) != (imageVersionID IS NULL)")
        }
        try db.create(index: "patchItem_desktop", on: "patchItem", columns: ["desktopID"])
        try db.create(index: "patchItem_image", on: "patchItem", columns: ["imageVersionID"])
    }

    /// Patch: the medium holding a staged item's content, and media uploaded to hosts.
    private static func v8PatchMedium(_ db: Database) throws {
        // The patch medium (PatchMedium id) holding a staged item's content; NULL when the
        // content went into the image itself (golden images, runs before v8).
        try db.alter(table: "patchItem") { t in t.add(column: "medium", .text) }
        // A patch medium uploaded to a host's pool and checked there: written only after the
        // device's copy matched, so a volume without its row is a killed upload.
        try db.create(table: "hostMedium") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("uri", .text).notNull()
            t.column("pool", .text).notNull()
            t.column("volume", .text).notNull()
            t.column("bytes", .integer).notNull()
            t.column("uploadedAt", .datetime).notNull()
            t.uniqueKey(["uri", "pool", "volume"])
        }
    }

    /// Retire: one row per desktop retirement (plan, options, progress) and the certificate chain.
    private static func v9Retire(_ db: Database) throws {
        // One row per desktop retirement: its plan, options and per-file progress (JSON), so a
        // killed run resumes where it stopped. The overwrite seeds are in `progress`: they
        // regenerate what was written (resume, verification), they protect nothing.
        try db.create(table: "retirement") { t in
            t.autoIncrementedPrimaryKey("id")
            t.column("desktopID", .integer).notNull().references("desktop", onDelete: .restrict)
            t.column("state", .text).notNull()
            t.column("options", .text).notNull()
            t.column("plan", .text).notNull()
            t.column("progress", .text).notNull()
            t.column("startedAt", .datetime).notNull()
            t.column("updatedAt", .datetime).notNull()
            t.column("endedAt", .datetime)
        }
        try db.create(index: "retirement_desktop", on: "retirement", columns: ["desktopID"])
        // The certificate chain of this home: sequence, subject and the SHA-256 of each file.
        try db.create(table: "certificate") { t in
            t.primaryKey("sequence", .integer)
            t.column("subjectKind", .text).notNull()
            t.column("subjectName", .text).notNull()
            t.column("claim", .text).notNull()
            t.column("sha256", .text).notNull()
            t.column("path", .text).notNull()
            t.column("issuedAt", .datetime).notNull()
        }
    }

    /// Deploy (issue 27 item 14): which making of a desktop's volumes personalization wrote into, so a
    /// desktop is recorded complete only when its layers are those personalized.
    private static func v10DeployGeneration(_ db: Database) throws {
        try db.alter(table: "volume") { t in
            t.add(column: "generation", .text)              // random per making: a volume made again gets a new one
        }
        try db.alter(table: "desktop") { t in
            t.add(column: "personalizedGeneration", .text)  // the generation of the layers personalization wrote into
        }
    }
}
