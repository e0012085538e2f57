import GRDB

extension InventorySchema {
    /// Schema v4 (issue 6): what an image version holds (its inspection), how it is stored, and
    /// removal that keeps the row, so lineage and provenance stay traceable after the file is gone.
    static func registerImageMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-images") { db in
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
    }
}
