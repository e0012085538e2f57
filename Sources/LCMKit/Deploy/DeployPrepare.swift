import Foundation
import GRDB
import Libvirt

/// The first part of a desktop's deployment, journaled per desktop: its records (row, seat,
/// assignment), the golden version on the device's host, its key, its OS layer and user-data disk.
/// A killed run is undone by the next run on the desktop (or `lcm recover`); only what this run
/// created is undone: a resumed desktop keeps the row and key an earlier run made.
struct DeployPrepareOperation: JournaledOperation {
    static let kind = "deploy-prepare"
    let desktop: String
    var live: Live?

    final class Live: @unchecked Sendable {
        let settings: DesktopSettings
        var desktopID: Int64?
        var golden: (volume: String, path: String)?
        var goldenUploadSeconds = 0.0
        var volumes: DesktopVolumeSet?
        let progress: ProgressSink?
        init(settings: DesktopSettings, progress: ProgressSink?) { self.settings = settings; self.progress = progress }
    }

    init(desktop: String, settings: DesktopSettings, progress: ProgressSink? = nil) {
        self.desktop = desktop
        self.live = Live(settings: settings, progress: progress)
    }

    init(parameters: [String: String]) throws {
        guard let desktop = parameters["desktop"] else { throw LCMError(.dataError, "deploy-prepare parameters incomplete") }
        self.desktop = desktop
    }

    var objectKind: String { "desktop" }
    var objectID: String { desktop }
    var recovery: RecoveryPolicy { .rollBack }
    var parameters: [String: String] { ["desktop": desktop] }

    var steps: [OperationStep] {
        let live = self.live, desktop = self.desktop
        @Sendable func needLive() throws -> Live {
            guard let live else { throw LCMError(.failure, "an interrupted deployment cannot be resumed in place; run deploy again") }
            return live
        }
        return [
            OperationStep("record", run: { context in
                let live = try needLive()
                live.desktopID = try context.inventory.write { db -> Int64 in
                    if let existing = try DesktopStore.find(db, name: desktop) { return existing.id! }
                    return try DeployRecords.insert(db, name: desktop, settings: live.settings, actor: context.inventory.actor)
                }
                try context.updateParameters(["createdRow": "\(live.desktopID!)"])
            }, undo: { context in
                guard let id = try context.parameters()["createdRow"].flatMap(Int64.init) else { return }
                try context.inventory.write { db in try DeployRecords.delete(db, desktopID: id, actor: context.inventory.actor) }
            }),
            OperationStep("golden", run: { context in
                let live = try needLive()
                let pool = try DeviceStoragePool.open(named: live.settings.pool, on: try context.connections.connect(live.settings.uri))
                let clock = ContinuousClock(), start = clock.now
                let golden = try HostImages.ensure(live.settings, pool: pool, inventory: context.inventory, progress: live.progress)
                live.golden = (golden.volume, golden.path)
                if golden.uploaded { live.goldenUploadSeconds = (clock.now - start).seconds }
            }),
            OperationStep("key", run: { context in
                let live = try needLive()
                guard live.settings.encrypted, let id = live.desktopID else { return }
                let existing = try context.inventory.read { db in try DesktopStore.keyID(db, id: id) }
                guard existing == nil else { return }
                let key = try DesktopKey.create(ownerKind: "desktop", ownerID: desktop, inventory: context.inventory)
                try context.updateParameters(["createdKey": key.id])
                try context.inventory.write { db in try DesktopStore.setKey(db, id: id, keyID: key.id) }
            }, undo: { context in
                guard let keyID = context.parametersOrEmpty["createdKey"] else { return }
                _ = try DesktopKey.destroyAll(keyID: keyID, inventory: context.inventory, connect: context.connections.connect)
                try context.inventory.write { db in try DesktopStore.clearKey(db, keyID: keyID) }
            }),
            OperationStep("volumes", run: { context in
                let live = try needLive()
                guard let id = live.desktopID, let golden = live.golden else { throw LCMError(.failure, "deploy-prepare ran out of order") }
                let keyID = try context.inventory.read { db in try DesktopStore.keyID(db, id: id) }
                let pool = try DeviceStoragePool.open(named: live.settings.pool, on: try context.connections.connect(live.settings.uri))
                try context.updateParameters(["uri": live.settings.uri, "pool": live.settings.pool, "volumesOf": "\(id)"])
                live.volumes = try DesktopVolumes.create(desktopID: id, name: desktop, settings: live.settings, golden: golden,
                                                         keyID: keyID, pool: pool, inventory: context.inventory,
                                                         recorder: context)
                try context.inventory.write { db in
                    try DeployRecords.setStage(db, desktopID: id, .prepared)
                }
            }, undo: { context in
                let parameters = context.parametersOrEmpty
                guard let uri = parameters["uri"], let id = parameters["volumesOf"].flatMap(Int64.init) else { return }
                guard let pool = try context.connections.connect(uri).lookupStoragePool(name: parameters["pool"] ?? DeviceStoragePool.name) else { return }
                try DesktopVolumes.remove(desktopID: id, name: desktop, pool: pool, inventory: context.inventory)
            }),
        ]
    }
}

extension OperationContext {
    /// The stored parameters, or none when they cannot be read (undo must still run).
    var parametersOrEmpty: [String: String] { (try? parameters()) ?? [:] }
}

/// The desktop's rows: desktop, license seat, user assignment, and its deployment stage.
enum DeployRecords {
    static func insert(_ db: Database, name: String, settings: DesktopSettings, actor: AuditActor) throws -> Int64 {
        let device = try DeviceLifecycle.find(db, settings.deviceTag)
        var desktop = Desktop(name: name, deviceID: device.id, imageVersionID: settings.imageVersionID)
        try DesktopStore.insert(db, &desktop)
        let id = desktop.id!
        try DesktopStore.setDeployment(db, id: id, stage: .recorded, settings: settings)
        if let pool = settings.licensePool {
            _ = try Licenses.takeSeat(db, pool: pool, desktopID: id, actor: actor)
        }
        if let username = settings.user {
            let user = try Assignments.user(db, username: username, create: true, actor: actor)
            _ = try Assignments.checkOut(db, kind: .desktop, objectID: id, userID: user.id!, actor: actor)
        }
        var details = ["device": settings.deviceTag, "image": settings.imageReference, "encrypted": "\(settings.encrypted)",
                       "secure_boot": "\(settings.usesSecureBoot)"]
        if settings.allowUngeneralized { details["allow_ungeneralized"] = "true" }
        try AuditLog.record(db, actor: actor, objectKind: "desktop", objectID: name, action: "deploy recorded", details: details)
        return id
    }

    /// Removes the desktop's rows (not the audit log, not its key's records: they prove what happened).
    static func delete(_ db: Database, desktopID: Int64, actor: AuditActor) throws {
        guard let name = try DesktopStore.name(db, id: desktopID) else { return }
        try db.execute(sql: "DELETE FROM licenseSeat WHERE desktopID = ?", arguments: [desktopID])
        try db.execute(sql: "DELETE FROM assignment WHERE objectKind = 'desktop' AND objectID = ?", arguments: [desktopID])
        try db.execute(sql: "DELETE FROM volume WHERE desktopID = ?", arguments: [desktopID])
        try DesktopStore.delete(db, id: desktopID)
        try AuditLog.record(db, actor: actor, objectKind: "desktop", objectID: name, action: "records removed")
    }

    /// Records that personalization wrote into the layers of `generation`, unless they were made
    /// again meanwhile (a deploy rerun that did not wait for this one): those are not personalized.
    static func setPersonalized(_ db: Database, desktopID: Int64, name: String, generation: String) throws {
        guard try layerGenerations(db, desktopID: desktopID) == [generation] else {
            throw layersMadeAgain(name)
        }
        try setStage(db, desktopID: desktopID, .personalized)
        try DesktopStore.setPersonalizedGeneration(db, id: desktopID, generation)
    }

    /// Whether the desktop's recorded layers are the ones personalization wrote into.
    static func layersArePersonalized(_ db: Database, desktopID: Int64) throws -> Bool {
        guard let personalized = try DesktopStore.personalizedGeneration(db, id: desktopID) else { return false }
        return try layerGenerations(db, desktopID: desktopID) == [personalized]
    }

    /// The generations of the desktop's OS layer and user-data disk (one, when both are recorded
    /// and made together; a missing volume or one made by an lcm before generations counts as none).
    private static func layerGenerations(_ db: Database, desktopID: Int64) throws -> Set<String> {
        let rows = try Row.fetchAll(db, sql: "SELECT generation FROM volume WHERE desktopID = ? AND role IN ('os', 'data')",
                                    arguments: [desktopID])
        let generations = rows.map { $0["generation"] as String? }
        guard generations.count == 2, generations.allSatisfy({ $0 != nil }) else { return [] }
        return Set(generations.compactMap { $0 })
    }

    static func layersMadeAgain(_ name: String) -> LCMError {
        LCMError(.conflict, "the volumes of desktop \(name) were made again after this run personalized them: they are not personalized",
                 hint: "run the same deploy again: it makes and personalizes the desktop's layers afresh")
    }

    static func setStage(_ db: Database, desktopID: Int64, _ stage: DeployStage) throws {
        try DesktopStore.setStage(db, id: desktopID, stage)
    }
}
