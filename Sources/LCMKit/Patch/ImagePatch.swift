import Foundation
import GRDB

/// What `lcm manage patch --image NAME --add ...` made: the next version of the golden image.
public struct ImagePatchReport: Codable, Sendable {
    public var parent: String
    public var name: String
    public var version: String
    public var path: String
    public var sha256: String
    public var items: [PatchSet.Item]
    public var outcome: OfflinePatchOutcome
    public var inspection: WindowsInspection
    public var secondsTotal: Double
}

/// Patches a golden image: a copy of the version gets the patch set (one appliance launch) and is
/// cataloged as the next version, immutable like every version; the parent stays as it was, for
/// desktops still on it and for rollback. Staged items run at the first boot of each desktop made
/// from the new version.
public enum ImagePatch: ImageDerivationKind {
    public static let kind = "image-patch"
    public static let producedBy = "patch"

    public static func run(_ set: PatchSet, parent reference: ImageReference, version: String? = nil,
                           context: LCMContext) throws -> ImagePatchReport {
        let clock = ContinuousClock(), started = clock.now
        let inventory = try context.inventory()
        let parent = try ImageCatalog(inventory: inventory).resolve(reference)
        let outcomeBox = OutcomeBox()
        let note = "patch: " + set.items.map(\.file).joined(separator: ", ")
        // The patch items are recorded with the version, in the transaction that publishes it.
        let made = try ImageDerivation.run(Self.self, parent: parent, source: set.items.map(\.file).joined(separator: ","),
                                           requestedVersion: version, context: context,
                                           recording: { db, versionID, version in
            guard let outcome = outcomeBox.outcome else { throw LCMError(.failure, "the patch run returned no outcome") }
            let runID = UUID().uuidString.lowercased(), now = context.clock.now()
            var queued = outcome.queued.makeIterator()
            for item in set.items {
                try db.execute(sql: """
                    INSERT INTO patchItem (runID, imageVersionID, file, kind, sha256, bytes, queueFile, state, createdAt, appliedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [runID, versionID, item.file, item.kind.rawValue, item.sha256, item.bytes,
                                     item.appliedOffline ? nil : queued.next(),
                                     (item.appliedOffline ? PatchItemState.succeeded : .staged).rawValue, now, now])
            }
            try AuditLog.record(db, actor: inventory.actor, objectKind: "image", objectID: "\(parent.name):\(version)",
                                action: "patched", details: ["parent": parent.reference, "items": set.items.map(\.file).joined(separator: ", ")])
        }) { access, _ in
            outcomeBox.outcome = try OfflinePatcher.apply(set, to: access)
            return (note, try WindowsInspector.inspect(access))
        }
        guard let outcome = outcomeBox.outcome else { throw LCMError(.failure, "the patch run returned no outcome") }
        return ImagePatchReport(parent: parent.reference, name: made.name, version: made.version, path: made.path, sha256: made.sha256,
                                items: set.items, outcome: outcome, inspection: made.inspection,
                                secondsTotal: (clock.now - started).seconds)
    }

    /// The patch items recorded with a version whose publication recovery undoes (a run killed
    /// after publishing): the version is not kept, so neither is its patch history.
    public static func forgetRecorded(_ db: Database, versionID: Int64) throws {
        try db.execute(sql: "DELETE FROM patchItem WHERE imageVersionID = ?", arguments: [versionID])
    }

    private final class OutcomeBox: @unchecked Sendable { var outcome: OfflinePatchOutcome? }
}
