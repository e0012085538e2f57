import Foundation
import GRDB

/// Requirement profiles in the inventory: add, replace, list, show, remove.
public enum Profiles {
    /// Stores a profile. An existing name is a conflict unless `replace` is set.
    @discardableResult
    public static func save(_ db: Database, _ profile: RequirementProfile, replace: Bool, actor: AuditActor,
                            now: Date = Date()) throws -> ProfileRecord {
        let problems = profile.problems()
        if let first = problems.first {
            throw LCMError(.dataError, "profile '\(profile.name)': \(first)\(problems.count > 1 ? " (and \(problems.count - 1) more)" : "")",
                           hint: "fix the profile and add it again")
        }
        let spec = try profile.specJSON()
        if var existing = try ProfileRecord.filter(Column("name") == profile.name).fetchOne(db) {
            guard replace else {
                throw LCMError(.conflict, "profile '\(profile.name)' already exists",
                               hint: "pass --replace to overwrite it, or choose another name")
            }
            existing.spec = spec
            existing.updatedAt = now
            try existing.update(db)
            try AuditLog.record(db, actor: actor, objectKind: "profile", objectID: profile.name, action: "replace",
                                details: ["spec": spec])
            return existing
        }
        var record = ProfileRecord(name: profile.name, spec: spec, now: now)
        try record.insert(db)
        try AuditLog.record(db, actor: actor, objectKind: "profile", objectID: profile.name, action: "add",
                            details: ["spec": spec])
        return record
    }

    public static func find(_ db: Database, name: String) throws -> ProfileRecord {
        guard let record = try ProfileRecord.filter(Column("name") == name).fetchOne(db) else {
            throw LCMError.notFound("profile '\(name)'", hint: "`lcm procure profile list` shows the profiles")
        }
        return record
    }

    /// The profile deploy sizes a device's desktop from.
    public static func load(_ db: Database, name: String) throws -> RequirementProfile {
        try find(db, name: name).profile()
    }

    public static func all(_ db: Database) throws -> [RequirementProfile] {
        try ProfileRecord.order(Column("name")).fetchAll(db).map { try $0.profile() }
    }

    /// Removes a profile no device refers to.
    public static func remove(_ db: Database, name: String, actor: AuditActor) throws {
        let record = try find(db, name: name)
        let users = try Int.fetchOne(db, sql: "SELECT count(*) FROM device WHERE profileID = ?", arguments: [record.id]) ?? 0
        guard users == 0 else {
            throw LCMError(.conflict, "profile '\(name)' is used by \(users) device(s)",
                           hint: "move them to another profile with `lcm procure update DEVICE --profile P` first")
        }
        _ = try ProfileRecord.deleteOne(db, key: record.id)
        try AuditLog.record(db, actor: actor, objectKind: "profile", objectID: name, action: "remove")
    }

    /// One row per profile: the requirements and VM sizing at a glance.
    public static func table(_ profiles: [RequirementProfile]) -> ReportTable {
        var table = ReportTable(columns: ["name", "arch", "cpus", "memory", "disk", "virt", "iommu", "tpm2", "uefi",
                                          "secure_boot", "accelerator", "vm_vcpus", "vm_memory", "vm_os_disk", "vm_data_disk",
                                          "description"])
        for p in profiles {
            let r = p.requires
            table.rows.append([
                .text(p.name), r.architecture.map(ReportValue.text) ?? .null, r.cpus.map { .integer(Int64($0)) } ?? .null,
                r.memoryBytes.map { .text(ByteSize.format($0)) } ?? .null, r.diskBytes.map { .text(ByteSize.format($0)) } ?? .null,
                .bool(r.cpuVirtualization), .bool(r.iommu), .bool(r.tpm2), .bool(r.uefi), .bool(r.secureBoot),
                .text(r.accelerator.rawValue + (r.accelerator != .none && !r.probe ? " (not probed)" : "")),
                .integer(Int64(p.vm.vcpus)), .text(ByteSize.format(p.vm.memoryBytes)),
                .text(ByteSize.format(p.vm.osDiskBytes)), .text(ByteSize.format(p.vm.dataDiskBytes)),
                p.description.map(ReportValue.text) ?? .null,
            ])
        }
        return table
    }
}
