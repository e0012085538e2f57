import GRDB

extension InventorySchema {
    /// Schema v7 (issue 8): every patch item given to every target, with its state over time.
    static func registerPatchMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-patch") { db in
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
        migrator.registerMigration("v8-patch-medium") { db in
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
    }
}

/// Where one patch item is.
public enum PatchItemState: String, Codable, Sendable, CaseIterable {
    /// Waiting for its desktop to stop (it was running).
    case queued
    /// In the image's boot queue; the guest has not run it yet.
    case staged
    /// Applied offline and read back (.reg), or run by the guest with exit code 0.
    case succeeded
    /// Run by the guest with exit code 3010/1641: installed once Windows restarts.
    case rebootPending = "reboot-pending"
    /// Run by the guest with another exit code, or could not be applied.
    case failed
    /// Never run: its desktop was retired first.
    case dropped
    /// Its OS layer was rolled back (`lcm manage rollback`): whatever it did is gone with the layer.
    case rolledBack = "rolled-back"
}
