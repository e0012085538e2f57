import Foundation
import GRDB

/// A kind of operation that makes a new image version from a cataloged one (drivers add, patch).
public protocol ImageDerivationKind: Sendable {
    /// The journal's operation kind.
    static var kind: String { get }
    /// `producedBy` of the new version, as `image list` shows it.
    static var producedBy: String { get }
    /// Removes the rows its `recording` added about `versionID`, when recovery undoes the
    /// version's publication (they reference the version, which cannot go while they exist).
    static func forgetRecorded(_ db: Database, versionID: Int64) throws
}

extension ImageDerivationKind {
    public static func forgetRecorded(_ db: Database, versionID: Int64) throws {}
}

/// What a derivation does to the copy, in one appliance launch: it returns the version's note
/// and the inspection of the result.
public typealias ImageDerivationWork = @Sendable (_ access: DiskAccess, _ parent: CatalogEntry) throws -> (note: String, inspection: WindowsInspection)

/// Rows a derivation adds about the version it made (patch items), written in the transaction
/// that publishes it, so a kill never leaves one without the other.
public typealias ImageDerivationRecording = @Sendable (_ db: Database, _ versionID: Int64, _ version: String) throws -> Void

/// The new version a derivation made.
public struct DerivedImageVersion: Sendable {
    public var parent: CatalogEntry
    public var name: String
    public var version: String
    public var path: String
    public var sha256: String
    public var note: String
    public var inspection: WindowsInspection
}

/// Makes the next version of an image from a copy of a cataloged one; the parent is never opened
/// for writing. Journaled on the image name and rolled back on failure or after a kill:
/// copy → work (one appliance launch) → publish.
public enum ImageDerivation {
    public static func run<Kind: ImageDerivationKind>(_ kind: Kind.Type, parent: CatalogEntry, source: String, requestedVersion: String?,
                                                      context: LCMContext,
                                                      recording: @escaping ImageDerivationRecording = { _, _, _ in },
                                                      work: @escaping ImageDerivationWork) throws -> DerivedImageVersion {
        if let requestedVersion { try ImageNames.validate(version: requestedVersion) }
        guard let inspection = parent.inspection, inspection.isWindows else {
            throw LCMError(.dataError, "\(parent.reference) holds no Windows installation to change")
        }
        guard inspection.hibernation.writableOffline, !inspection.hibernation.hibernated else {
            throw LCMError(.conflict, "\(parent.reference) is hibernated (or shut down with Fast Startup): its volume cannot be written offline",
                           hint: "boot the source system, shut it down fully with Fast Startup off, and import it again")
        }
        let store = ImageStore(home: context.settings.home)
        let live = ImageDerivationOperation<Kind>.Live(parent: parent, source: source, requestedVersion: requestedVersion,
                                                       store: store, engineOptions: context.engine, recording: recording, work: work)
        var operation = ImageDerivationOperation<Kind>(name: parent.name, incomingPath: try store.incomingPath())
        operation.live = live
        try context.journal().run(operation)
        guard let result = live.result else { throw LCMError(.failure, "the \(Kind.producedBy) run produced no version") }
        return result
    }
}

struct ImageDerivationOperation<Kind: ImageDerivationKind>: JournaledOperation {
    static var kind: String { Kind.kind }
    let name: String
    let incomingPath: String
    var live: Live?

    final class Live: @unchecked Sendable {
        let parent: CatalogEntry
        let source: String
        let requestedVersion: String?
        let store: ImageStore
        let engineOptions: DiskEngine.Options
        let work: ImageDerivationWork
        let recording: ImageDerivationRecording
        var version = ""
        var note = ""
        var inspection = WindowsInspection()
        var result: DerivedImageVersion?

        init(parent: CatalogEntry, source: String, requestedVersion: String?, store: ImageStore,
             engineOptions: DiskEngine.Options, recording: @escaping ImageDerivationRecording, work: @escaping ImageDerivationWork) {
            self.parent = parent; self.source = source; self.requestedVersion = requestedVersion
            self.store = store; self.engineOptions = engineOptions; self.recording = recording; self.work = work
        }
    }

    init(name: String, incomingPath: String) { self.name = name; self.incomingPath = incomingPath }

    init(parameters: [String: String]) throws {
        guard let name = parameters["name"], let incoming = parameters["incoming"] else {
            throw LCMError(.dataError, "\(Kind.kind) operation parameters incomplete")
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
            guard let live else { throw LCMError(.failure, "an interrupted \(Kind.producedBy) run cannot be resumed; run it again") }
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
                    throw LCMError(.cannotWrite, "cannot copy \(live.parent.path): \(LCMError.reason(error))",
                                   hint: "free space in lcm's home")
                }
                chmod(incoming, 0o600)
            }, undo: { _ in unlink(incoming) }),
            OperationStep("work", run: { context in
                let live = try needLive()
                let engine = DiskEngine(inventory: context.inventory, recorder: context, options: live.engineOptions)
                let report = try engine.run([.file(incoming, name: "\(name):\(live.version)")]) { access in
                    try live.work(access, live.parent)
                }
                guard let result = report.results.first else { throw LCMError(.failure, "the engine returned nothing") }
                switch result.outcome {
                case .failure(let failure):
                    throw failure.error(prefix: "\(Kind.producedBy) on a copy of \(live.parent.reference) failed: ")
                case .success(let (note, inspection)):
                    live.note = note
                    live.inspection = inspection
                }
            }, undo: { _ in }),
            OperationStep("publish", run: { context in
                let live = try needLive()
                let sha256 = try FileDigest.sha256(path: incoming)
                let published = try ImagePublisher.publish(
                    context: context, store: live.store, incoming: incoming,
                    version: NewImageVersion(
                        name: name, version: live.version, description: nil, parentID: try Self.versionID(live.parent, context),
                        virtualSize: live.parent.virtualSize ?? 0, sha256: sha256, source: live.source, sourceSHA256: nil,
                        sourceFormat: nil, producedBy: Kind.producedBy, note: live.note,
                        compressed: false, inspection: live.inspection),
                    recording: { db, versionID in try live.recording(db, versionID, live.version) })
                live.result = DerivedImageVersion(parent: live.parent, name: name, version: live.version, path: published.path,
                                                  sha256: sha256, note: live.note, inspection: live.inspection)
            }, undo: { context in
                try Self.forgetRecorded(context)
                try ImagePublisher.undo(context: context)
            }),
        ]
    }

    /// Removes what the kind recorded about the version this run published, found as
    /// `ImagePublisher.undo` finds the version: by the store path recorded in the parameters.
    static func forgetRecorded(_ context: OperationContext) throws {
        guard let destination = try context.parameters()["store"], !destination.isEmpty else { return }
        try context.inventory.write { db in
            guard let versionID = try Int64.fetchOne(db, sql: "SELECT id FROM imageVersion WHERE path = ? AND removedAt IS NULL",
                                                     arguments: [destination]) else { return }
            try Kind.forgetRecorded(db, versionID: versionID)
        }
    }

    static func versionID(_ entry: CatalogEntry, _ context: OperationContext) throws -> Int64? {
        try context.inventory.read { db in
            try Int64.fetchOne(db, sql: "SELECT id FROM imageVersion WHERE path = ? AND removedAt IS NULL", arguments: [entry.path])
        }
    }
}
