import GRDB

extension InventorySchema {
    static func registerRetireMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-retire") { db in
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
    }
}
