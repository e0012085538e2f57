import GRDB

extension InventorySchema {
    /// Schema v5 (issue 7): where each golden version sits on each device's host, and how far each
    /// desktop's deployment got, so a rerun completes only what is missing.
    static func registerDeployMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v5-deploy") { db in
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
        migrator.registerMigration("v6-deploy-allocation") { db in
            try db.alter(table: "volume") { t in
                // Bytes allocated when deploy handed the volume over: a user-data disk that has
                // grown since holds data someone wrote (see DesktopRemoval).
                t.add(column: "deployedAllocation", .integer)
            }
        }
    }

    /// Schema v10 (issue 27 item 14): which making of a desktop's volumes personalization wrote
    /// into, so a desktop is recorded complete only when its layers are those personalized.
    static func registerDeployGenerationMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10-deploy-generation") { db in
            try db.alter(table: "volume") { t in
                t.add(column: "generation", .text)              // random per making: a volume made again gets a new one
            }
            try db.alter(table: "desktop") { t in
                t.add(column: "personalizedGeneration", .text)  // the generation of the layers personalization wrote into
            }
        }
    }
}
