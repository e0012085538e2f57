import Foundation

/// Text and table renderings of image data for `lcm image` (JSON is the Codable values as they are).
public enum ImageReports {
    public static func catalogTable(_ entries: [CatalogEntry]) -> ReportTable {
        ReportTable(columns: ["image", "version", "os", "build", "generalized", "virtio", "size", "parent", "produced_by", "created", "state", "desktops"],
                    rows: entries.map { entry in
            let inspection = entry.inspection
            return [.text(entry.name), .text(entry.version), inspection?.osName.map { .text($0) } ?? .null,
                    inspection?.version.map { .text($0) } ?? .null,
                    inspection.map { .bool($0.generalization.generalized) } ?? .null,
                    inspection.map { .bool($0.virtio.hasStorageDriver) } ?? .null,
                    entry.fileSize.map { .integer($0) } ?? .null, entry.parent.map { .text($0) } ?? .null,
                    entry.producedBy.map { .text($0) } ?? .null, .text(ISO8601DateFormatter().string(from: entry.createdAt)),
                    .text(entry.state), .integer(Int64(entry.desktops.count))]
        })
    }

    /// One catalog entry for `lcm image show`: its record, lineage and users, then its inspection
    /// and readiness when it has them.
    public static func text(_ entry: CatalogEntry, lineage: [String]) -> String {
        var fields = FieldList()
        func field(_ name: String, _ value: String?) { fields.add(name, value ?? "-") }
        field("image", entry.reference)
        field("state", entry.state)
        field("path", entry.path)
        field("sha256", entry.sha256)
        field("virtual size", entry.virtualSize.map { ByteSize.format(UInt64($0)) })
        field("file size", entry.fileSize.map { ByteSize.format(UInt64($0)) })
        field("produced by", entry.producedBy)
        field("note", entry.note)
        field("source", entry.source)
        field("source format", entry.sourceFormat)
        field("source sha256", entry.sourceSHA256)
        field("operator", entry.operator)
        field("created", ISO8601DateFormatter().string(from: entry.createdAt))
        field("verified", entry.verifiedAt.map { ISO8601DateFormatter().string(from: $0) })
        field("lineage", lineage.joined(separator: " -> "))
        field("desktops", entry.desktops.isEmpty ? "none" : entry.desktops.joined(separator: ", "))
        guard let inspection = entry.inspection else { return fields.text }
        return fields.text + text(inspection, title: "inspection") + text(ImageReadiness.problems(inspection), title: "readiness")
    }

    /// A person-readable inspection, one field per line.
    public static func text(_ inspection: WindowsInspection, title: String) -> String {
        var fields = FieldList(width: 20, indent: "  ")
        fields.text = "\(title)\n"
        func field(_ name: String, _ value: String?) { fields.add(name, value ?? "-") }
        for partition in inspection.partitions {
            field("partition", "\(partition.device) \(partition.filesystem)\(partition.sizeBytes.map { " \(ByteSize.format(UInt64($0)))" } ?? "")")
        }
        guard inspection.isWindows else {
            field("os", inspection.bitLockerPartitions.isEmpty ? "no Windows found" : "unknown (BitLocker-encrypted volume)")
            return fields.text
        }
        field("os", inspection.osName)
        field("product", inspection.productName)
        field("edition", inspection.editionID)
        field("type", inspection.installationType)
        field("version", inspection.version)
        field("display version", inspection.displayVersion)
        field("architecture", inspection.architecture)
        field("hostname", inspection.hostname)
        field("computer name", inspection.computerName)
        field("windows volume", inspection.windowsPartition)
        field("drive letters", inspection.driveLetters.map { "\($0.letter): \($0.partition)" }.joined(separator: ", "))
        field("applications", "\(inspection.applications.count)")
        for app in inspection.applications where app.displayName != nil {
            fields.text += "    \(app.displayName ?? app.key) \(app.version ?? "")\(app.is32BitOn64 ? " (32-bit)" : "")\n"
        }
        field("updates installed", inspection.servicing.installedUpdates.isEmpty ? "none" : inspection.servicing.installedUpdates.joined(separator: " "))
        field("servicing pending", inspection.servicing.rebootPending || !inspection.servicing.pendingPackages.isEmpty
              ? "yes (\(inspection.servicing.pendingPackages.count) package(s))" : "no")
        field("virtio storage", inspection.virtio.storageDrivers.isEmpty ? "none" : inspection.virtio.storageDrivers.joined(separator: ", "))
        field("virtio network", inspection.virtio.networkDrivers.isEmpty ? "none" : inspection.virtio.networkDrivers.joined(separator: ", "))
        field("generalized", inspection.generalization.generalized ? "yes" : "no (\(inspection.generalization.imageState ?? "no ImageState"))")
        field("hibernated", inspection.hibernation.hibernated ? "yes" : "no")
        field("fast startup", inspection.hibernation.fastStartupEnabled ? "on" : "off")
        field("offline writable", inspection.hibernation.writableOffline ? "yes" : "no")
        field("bitlocker", inspection.bitLockerPartitions.isEmpty ? "none" : inspection.bitLockerPartitions.joined(separator: ", "))
        field("answer files", inspection.answerFiles.isEmpty ? "none"
              : inspection.answerFiles.map { "\($0.path)\($0.secrets.isEmpty ? "" : " (\($0.secrets.joined(separator: ", ")))")" }.joined(separator: "; "))
        field("lcm queue", "\(inspection.lcmQueue.pendingItems) pending, \(inspection.lcmQueue.results) result(s), \(inspection.lcmQueue.failedResults) failed")
        return fields.text
    }

    public static func text(_ problems: [ReadinessProblem], title: String) -> String {
        guard !problems.isEmpty else { return "\(title): ready for rollout\n" }
        var text = "\(title): \(problems.filter { $0.severity == .blocker }.count) blocker(s), \(problems.filter { $0.severity == .warning }.count) warning(s)\n"
        for problem in problems {
            text += "  [\(problem.severity.rawValue)] \(problem.id): \(problem.detail)\n      fix: \(problem.fix)\n"
        }
        return text
    }
}

extension ImageReports {
    /// A diff by section; each section shows at most `limit` lines and says how many it left out.
    public static func text(_ diff: ImageDiffReport, limit: Int) -> String {
        var lines = ["\(diff.from) -> \(diff.to)"]
        if diff.isEmpty { return lines[0] + "\n  no differences\n" }
        func section<T>(_ title: String, _ items: [T], _ line: (T) -> String) {
            guard !items.isEmpty else { return }
            lines.append("\(title) (\(items.count))")
            lines += items.prefix(limit).map { "  " + line($0) }
            if items.count > limit { lines.append("  ... \(items.count - limit) more (--limit 0 or --format json shows all)") }
        }
        func sign(_ change: ChangeKind) -> String { change == .added ? "+" : change == .removed ? "-" : "~" }
        section("facts", diff.facts) { "\($0.field): \($0.old ?? "-") -> \($0.new ?? "-")" }
        section("applications", diff.applications) { change in
            "\(sign(change.change)) \(change.name) \(change.change == .modified ? "\(change.oldVersion ?? "-") -> \(change.newVersion ?? "-")" : (change.newVersion ?? change.oldVersion ?? ""))"
        }
        section("files", diff.files) { change in
            let sizes = change.change == .modified ? " (\(change.oldSize ?? 0) -> \(change.newSize ?? 0) bytes)" : ""
            return "\(sign(change.change)) \(change.path)\(sizes)"
        }
        section("registry", diff.registry) { change in
            let key = change.key.isEmpty ? change.hive : "\(change.hive)\\\(change.key)"
            guard let value = change.value else { return "\(sign(change.change)) [\(key)]" }
            let name = value.isEmpty ? "@" : "\"\(value)\""
            switch change.change {
            case .added: return "+ [\(key)] \(name) = \(change.new ?? "")"
            case .removed: return "- [\(key)] \(name) = \(change.old ?? "")"
            case .modified: return "~ [\(key)] \(name): \(change.old ?? "") -> \(change.new ?? "")"
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
