import Foundation
import GRDB

/// The new version `lcm image drivers add` made.
public struct DriverInjectionReport: Codable, Sendable {
    public var parent: String
    public var name: String
    public var version: String
    public var path: String
    public var sha256: String
    public var media: String
    public var summary: DriverInjectionSummary
    public var inspection: WindowsInspection
    public var secondsTotal: Double
}

/// Injects virtio drivers into a copy of a cataloged version and catalogs the copy as the next
/// version (parent: the one it came from), through `ImageDerivation`: copy → inject (one
/// appliance launch: edit, then inspect the result) → publish.
public enum DriverInjection: ImageDerivationKind {
    public static let kind = "image-drivers"
    public static let producedBy = "drivers add"

    public static func run(parent reference: ImageReference, media path: String, version: String? = nil,
                           context: LCMContext) throws -> DriverInjectionReport {
        if let version { try ImageNames.validate(version: version) }
        let clock = ContinuousClock(), started = clock.now
        let parent = try ImageCatalog(inventory: try context.inventory()).resolve(reference)
        guard let parentInspection = parent.inspection, parentInspection.isWindows else {
            throw LCMError(.dataError, "\(parent.reference) holds no Windows installation to add drivers to")
        }
        // Read the media first: a wrong ISO fails before anything is copied.
        let drivers = try VirtioDriverSource(source: path).drivers(for: parentInspection)
        let summaryBox = SummaryBox()
        let made = try ImageDerivation.run(Self.self, parent: parent, source: path, requestedVersion: version,
                                           context: context) { access, parent in
            let before = try WindowsInspector.inspect(access)
            guard before.isWindows, let partition = before.windowsPartition else {
                throw LCMError(.dataError, "no Windows installation found in the copy of \(parent.reference)")
            }
            guard try access.session.ntfs3gProbe(partition, readWrite: true) else {
                throw LCMError(.dataError, "the Windows volume of \(parent.reference) cannot be written (hibernated?)")
            }
            try access.session.mount(partition, options: "big_writes")
            let summary = try VirtioDriverInjector.inject(drivers, session: access.session, inspection: before)
            try access.session.umountAll()
            let after = try WindowsInspector.inspect(access)
            guard after.virtio.hasStorageDriver else {
                throw LCMError(.failure, "after injection the image still shows no virtio storage driver (a bug: please report it)")
            }
            summaryBox.summary = summary
            return ("virtio drivers \(summary.folders.joined(separator: ", ")) from \(path)", after)
        }
        return DriverInjectionReport(parent: parent.reference, name: made.name, version: made.version, path: made.path,
                                     sha256: made.sha256, media: path, summary: summaryBox.summary, inspection: made.inspection,
                                     secondsTotal: (clock.now - started).seconds)
    }

    private final class SummaryBox: @unchecked Sendable { var summary = DriverInjectionSummary() }
}
