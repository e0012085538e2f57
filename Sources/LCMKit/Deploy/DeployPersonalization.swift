import Foundation

/// What the deploy run does to each disk of a desktop in the shared appliance launch: the OS layer
/// is personalized (registry, specialize answer file), the user-data disk (laid out when it was
/// made) gets the user's migrated data.
enum DeployPersonalization {
    /// The one validation of a desktop's personalization, when its deploy is planned.
    static func personalization(_ settings: DesktopSettings, joinBlob: OfflineDomainJoinBlob?) throws -> DesktopPersonalization {
        try DesktopPersonalization(computerName: settings.computerName, registeredOwner: settings.owner,
                                   registeredOrganization: settings.organization ?? "", timeZone: settings.timeZone,
                                   domainJoin: joinBlob)
    }

    /// The personalization of settings `personalization(_:joinBlob:)` accepted when they were planned.
    static func planned(_ settings: DesktopSettings, joinBlob: OfflineDomainJoinBlob?) -> DesktopPersonalization {
        DesktopPersonalization(validated: settings.computerName, registeredOwner: settings.owner,
                               registeredOrganization: settings.organization ?? "", timeZone: settings.timeZone,
                               domainJoin: joinBlob)
    }

    /// Returns a line for the report (empty when there is nothing to say).
    /// - Parameter golden: shared by the OS layers of one golden version in the batch, with the
    ///   catalog's inspection record of that version.
    static func apply(role: String, settings: DesktopSettings, joinBlob: OfflineDomainJoinBlob?, golden: GoldenFacts?,
                      to access: DiskAccess) throws -> String {
        switch role {
        case "os":
            let report = try DesktopPersonalizer.apply(planned(settings, joinBlob: joinBlob), to: access,
                                                       generalized: settings.generalized,
                                                       architecture: UnattendArchitecture(inspectedArchitecture: settings.architecture) ?? .amd64,
                                                       golden: golden)
            var notes: [String] = []
            if let answerFile = report.answerFile { notes.append("specialize answer file \(answerFile)") }
            if let cleanup = report.answerFileCleanup {
                notes.append("answer files hold \(report.answerFileSecrets.joined(separator: ", ")): every copy removed after Setup by boot queue item \(cleanup)")
            }
            return notes.joined(separator: "; ")
        default:
            guard let archive = settings.migrateArchive else { return "" }
            // A disk made before lcm laid user-data disks out itself is still blank: prepared here.
            let partition = try (try? UserDataDisk.volume(access)) ?? UserDataDisk.prepare(access)
            let migrated = try UserDataDisk.migrate(archive: URL(fileURLWithPath: archive), into: access, partition: partition)
            return "user data migrated: \(migrated.files) files, \(ByteSize.format(UInt64(max(0, migrated.bytes))))"
        }
    }
}
