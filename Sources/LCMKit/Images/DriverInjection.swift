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
/// version (parent: the one it came from). The parent is never opened for writing.
///
/// Journaled on the image name and rolled back on failure or after a kill: copy → inject (one
/// appliance launch: edit, then inspect the result) → publish.
public enum DriverInjection {
    public static func run(parent reference: ImageReference, media path: String, version: String? = nil,
                           inventory: Inventory, engineOptions: DiskEngine.Options = .init()) throws -> DriverInjectionReport {
        if let version { try ImageNames.validate(version: version) }
        let clock = ContinuousClock(), started = clock.now
        let parent = try ImageCatalog(inventory: inventory).resolve(reference)
        guard let parentInspection = parent.inspection, parentInspection.isWindows else {
            throw LCMError(.dataError, "\(parent.reference) holds no Windows installation to add drivers to")
        }
        guard parentInspection.hibernation.writableOffline, !parentInspection.hibernation.hibernated else {
            throw LCMError(.dataError, "\(parent.reference) is hibernated (or shut down with Fast Startup): its volume cannot be written offline",
                           hint: "boot the source system, shut it down fully with Fast Startup off, and import it again")
        }
        // Read the media first: a wrong ISO fails before anything is copied.
        let drivers = try VirtioDriverSource(source: path).drivers(for: parentInspection)
        let store = ImageStore(home: inventory.home)
        let live = DriverInjectionOperation.Live(parent: parent, drivers: drivers, media: path, requestedVersion: version,
                                                 store: store, engineOptions: engineOptions)
        var operation = DriverInjectionOperation(name: parent.name, incomingPath: try store.incomingPath())
        operation.live = live
        try OperationJournal(inventory: inventory, registry: .standard).run(operation)
        guard var report = live.report else { throw LCMError(.failure, "the driver injection produced no report") }
        report.secondsTotal = (clock.now - started).seconds
        return report
    }
}

struct DriverInjectionOperation: JournaledOperation {
    static let kind = "image-drivers"
    let name: String
    let incomingPath: String
    var live: Live?

    final class Live: @unchecked Sendable {
        let parent: CatalogEntry
        let drivers: [VirtioDriverSource.Driver]
        let media: String
        let requestedVersion: String?
        let store: ImageStore
        let engineOptions: DiskEngine.Options
        var version = ""
        var summary = DriverInjectionSummary()
        var inspection = WindowsInspection()
        var report: DriverInjectionReport?

        init(parent: CatalogEntry, drivers: [VirtioDriverSource.Driver], media: String, requestedVersion: String?,
             store: ImageStore, engineOptions: DiskEngine.Options) {
            self.parent = parent; self.drivers = drivers; self.media = media; self.requestedVersion = requestedVersion
            self.store = store; self.engineOptions = engineOptions
        }
    }

    init(name: String, incomingPath: String) { self.name = name; self.incomingPath = incomingPath }

    init(parameters: [String: String]) throws {
        guard let name = parameters["name"], let incoming = parameters["incoming"] else {
            throw LCMError(.dataError, "image-drivers operation parameters incomplete")
        }
        self.init(name: name, incomingPath: incoming)
    }

    var objectKind: String { "image" }
    var objectID: String { name }
    var recovery: RecoveryPolicy { .rollBack }
    var parameters: [String: String] { ["name": name, "incoming": incomingPath] }

    var steps: [OperationStep] {
        let live = self.live, name = self.name, incoming = incomingPath
        @Sendable func needLive() throws -> Live {
            guard let live else { throw LCMError(.failure, "an interrupted driver injection cannot be resumed; run it again") }
            return live
        }
        return [
            OperationStep("copy", run: { context in
                let live = try needLive()
                live.version = try ImageCatalog.settleVersion(inventory: context.inventory, name: name, requested: live.requestedVersion)
                try context.updateParameters(["store": live.store.path(name: name, version: live.version)])
                unlink(incoming)
                do {
                    try FileManager.default.copyItem(atPath: live.parent.path, toPath: incoming)
                } catch {
                    throw LCMError(.cannotWrite, "cannot copy \(live.parent.path): \(error.localizedDescription)",
                                   hint: "free space in lcm's home")
                }
                chmod(incoming, 0o600)
            }, undo: { _ in unlink(incoming) }),
            OperationStep("inject", run: { context in
                let live = try needLive()
                let engine = DiskEngine(inventory: context.inventory, recorder: context, options: live.engineOptions)
                let report = try engine.run([.file(incoming, name: "\(name):\(live.version)")]) { access in
                    let before = try WindowsInspector.inspect(access)
                    guard before.isWindows, let partition = before.windowsPartition else {
                        throw LCMError(.dataError, "no Windows installation found in the copy of \(live.parent.reference)")
                    }
                    guard try access.session.ntfs3gProbe(partition, readWrite: true) else {
                        throw LCMError(.dataError, "the Windows volume of \(live.parent.reference) cannot be written (hibernated?)")
                    }
                    try access.session.mount(partition, options: "big_writes")
                    let summary = try VirtioDriverInjector.inject(live.drivers, session: access.session, inspection: before)
                    try access.session.umountAll()
                    return (summary, try WindowsInspector.inspect(access))
                }
                guard let result = report.results.first else { throw LCMError(.failure, "the engine returned nothing") }
                switch result.outcome {
                case .failure(let failure):
                    throw LCMError(.dataError, "cannot add drivers to \(live.parent.reference): \(failure.message)")
                case .success(let (summary, inspection)):
                    live.summary = summary
                    live.inspection = inspection
                }
                guard live.inspection.virtio.hasStorageDriver else {
                    throw LCMError(.failure, "after injection the image still shows no virtio storage driver (a bug: please report it)")
                }
            }, undo: { _ in }),
            OperationStep("publish", run: { context in
                let live = try needLive()
                let sha256 = try FileDigest.sha256(path: incoming)
                let published = try ImagePublisher.publish(
                    context: context, store: live.store, incoming: incoming,
                    version: NewImageVersion(
                        name: name, version: live.version, description: nil, parentID: try Self.versionID(live.parent, context),
                        virtualSize: live.parent.virtualSize ?? 0, sha256: sha256, source: live.media, sourceSHA256: nil,
                        sourceFormat: nil, producedBy: "drivers add",
                        note: "virtio drivers \(live.summary.folders.joined(separator: ", ")) from \(live.media)",
                        compressed: false, inspection: live.inspection))
                live.report = DriverInjectionReport(
                    parent: live.parent.reference, name: name, version: live.version, path: published.path, sha256: sha256,
                    media: live.media, summary: live.summary, inspection: live.inspection, secondsTotal: 0)
            }, undo: { context in try ImagePublisher.undo(context: context) }),
        ]
    }

    static func versionID(_ entry: CatalogEntry, _ context: OperationContext) throws -> Int64? {
        try context.inventory.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM imageVersion WHERE path = ? AND removedAt IS NULL", arguments: [entry.path])
        }
    }
}
