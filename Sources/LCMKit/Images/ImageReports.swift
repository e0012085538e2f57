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

    /// A person-readable inspection, one field per line.
    public static func text(_ inspection: WindowsInspection, title: String) -> String {
        var lines = ["\(title)"]
        func field(_ name: String, _ value: String?) {
            lines.append("  \(name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(value ?? "-")")
        }
        for partition in inspection.partitions {
            field("partition", "\(partition.device) \(partition.filesystem)\(partition.sizeBytes.map { " \(ByteSize.format(UInt64($0)))" } ?? "")")
        }
        guard inspection.isWindows else {
            field("os", inspection.bitLockerPartitions.isEmpty ? "no Windows found" : "unknown (BitLocker-encrypted volume)")
            return lines.joined(separator: "\n") + "\n"
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
            lines.append("    \(app.displayName ?? app.key) \(app.version ?? "")\(app.is32BitOn64 ? " (32-bit)" : "")")
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
        return lines.joined(separator: "\n") + "\n"
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
