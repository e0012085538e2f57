import Foundation
import GRDB
import Libvirt

/// One patch item of one desktop, as `lcm manage patch status` reports it.
public struct PatchItemStatus: Codable, Sendable, Equatable {
    public var file: String
    public var kind: String
    public var queueFile: String?
    public var state: PatchItemState
    public var exitCode: Int32?
    public var rebootNeeded: Bool?
    public var started: Date?
    public var ended: Date?
    /// For .msu/.cab items named after a KB: what Component Based Servicing says of that KB
    /// ("installed", "pending reboot", "not installed"), read from the image's own SOFTWARE hive.
    public var windows: String?
    public var detail: String?
    public var appliedAt: Date?
}

/// Whether answer files holding secrets (a domain join blob, passwords, a product key) are still
/// on a desktop's Windows volume, read offline from the volume itself and the runner's log.
public struct AnswerFileStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// No answer file with a secret, and none was ever queued for removal.
        case noSecrets = "none"
        /// The runner removed them (its log says when), and none is on the volume.
        case removed
        /// Still on the volume after the desktop booted.
        case stillPresent = "still-present"
        /// On the volume; the desktop has not booted since deploy.
        case notYetBooted = "not-yet-booted"
    }

    public var state: State
    /// Answer files on the volume that hold secrets.
    public var paths: [String] = []
    /// Kinds of secret they hold ("domain join blob", "password", ...); never the values.
    public var secrets: [String] = []
    /// When the runner's `purge` item ended, and its exit code.
    public var removedAt: Date?
    public var exitCode: Int32?
    public var detail: String?

    /// Judged from an offline read of the volume (`inspection`) and what the runner left.
    init(inspection: WindowsInspection, runner: RunnerState) {
        let holding = inspection.answerFiles.filter { !$0.secrets.isEmpty }
        let cleanup = runner.results.last { $0.item.hasSuffix("." + StagedItem.Kind.purge.rawValue) }
        let queued = runner.queuedFiles.contains { $0.hasSuffix("." + StagedItem.Kind.purge.rawValue) }
        state = .noSecrets
        paths = holding.map(\.path)
        secrets = Array(Set(holding.flatMap(\.secrets))).sorted()
        removedAt = cleanup?.ended
        exitCode = cleanup?.exitCode
        if holding.isEmpty {
            state = cleanup != nil || queued ? .removed : .noSecrets
            if cleanup == nil && queued { detail = "gone from the volume, though the runner has not run its item" }
        } else if runner.boots.isEmpty {
            state = .notYetBooted
            if !queued { detail = "nothing is queued to remove them (they came with the golden image)" }
        } else {
            state = .stillPresent
            if let cleanup, cleanup.exitCode != 0 {
                detail = "the runner could not remove them (exit \(cleanup.exitCode))"
            } else if queued {
                detail = "still queued for removal: Windows Setup has not finished, or the runner has not run yet"
            } else {
                detail = "nothing is queued to remove them (they came with the golden image)"
            }
        }
    }

    /// "removed", "still present: PATHS", "not yet booted".
    public var summary: String {
        switch state {
        case .noSecrets: "none with secrets"
        case .removed: "removed"
        case .stillPresent: "still present: \(paths.joined(separator: ", "))"
        case .notYetBooted: "not yet booted"
        }
    }
}

/// One desktop's patch state: lcm's records, updated from what the image holds.
public struct DesktopPatchStatus: Codable, Sendable {
    public var desktop: String
    public var device: String?
    public var domainState: String
    /// The image was read offline just now (false: running or unreachable, records only).
    public var readBack: Bool
    public var note: String?
    /// Windows' own state: update build revision, CBS RebootPending, packages waiting for a reboot.
    public var ubr: Int?
    public var rebootPending: Bool?
    public var pendingPackages: [String] = []
    /// Items still in the boot queue, and the boots the runner recorded.
    public var queuedInImage: [String] = []
    public var boots: Int?
    public var items: [PatchItemStatus] = []
    /// Answer files with secrets on the volume (nil when the image was not read).
    public var answerFiles: AnswerFileStatus?
}

/// Reads patch outcomes back offline. For each stopped desktop, one engine batch (read-only)
/// opens its OS layer: the runner's log (`runner.log`: item, start, end, exit code, reboot), the
/// queue still waiting, and Windows' servicing state (UBR, CBS packages, RebootPending). Staged
/// rows move to succeeded / failed / reboot-pending with the guest's exit code, and finished rows
/// whose item the image still queues (a rollback brought that layer back) to staged; every change
/// is an audit event, so the history stays. Running desktops are reported from the records.
public struct PatchStatusReader {
    let inventory: Inventory
    let engineOptions: DiskEngine.Options
    let connections: ConnectionFactory

    public init(context: LCMContext) throws {
        self.inventory = try context.inventory(); self.engineOptions = context.engine; self.connections = context.connections
    }

    struct ImageFacts: Sendable {
        var runner: RunnerState
        var inspection: WindowsInspection
    }

    public func read(names: [String]) throws -> [DesktopPatchStatus] {
        try readWithLaunches(names: names).statuses
    }

    /// `read`, with the appliance launches it took.
    func readWithLaunches(names: [String]) throws -> (statuses: [DesktopPatchStatus], launches: Int) {
        var launches = 0
        var statuses: [DesktopPatchStatus] = []
        var readable: [(index: Int, desktop: OSLayers.Desktop, volume: DiskVolume)] = []
        for name in names {
            var status = DesktopPatchStatus(desktop: name, device: nil, domainState: "unknown", readBack: false)
            do {
                let desktop = try DesktopPatcher.load(name, inventory: inventory)
                status.device = desktop.settings.deviceTag
                // No recovery here: a patch run may be making a pending layer right now. Status reads
                // the committed top; the next patch run (under its lock) cleans up after a killed one.
                let connection = try connections.connect(desktop.settings.uri)
                if let domain = try connection.lookupDomain(name: name) {
                    status.domainState = DesktopStatusReader.name(try domain.state())
                    if try domain.isActive { status.note = "running: outcomes are read back when it has stopped" }
                } else {
                    status.domainState = "undefined"
                }
                if status.note == nil, let volume = try topVolume(desktop) {
                    readable.append((statuses.count, desktop, volume))
                }
            } catch {
                status.note = "cannot be read: \(DesktopPatcher.message(error))"
            }
            statuses.append(status)
        }
        if !readable.isEmpty {
            var options = engineOptions
            options.readOnly = true
            let report = try DiskBatch.run(inventory: inventory, objectID: "patch-status", volumes: readable.map(\.volume), options: options) { access in
                let inspection = try WindowsInspector.inspect(access)
                guard let partition = inspection.windowsPartition else { throw LCMError(.notFound, "no Windows installation found") }
                try access.session.mountReadOnly(partition)
                defer { try? access.session.umountAll() }
                return ImageFacts(runner: try BootRunnerContract.readState(on: access.session), inspection: inspection)
            }
            launches = report.launches
            for (position, result) in report.results.enumerated() {
                let entry = readable[position]
                switch result.outcome {
                case .failure(let failure): statuses[entry.index].note = "cannot be read: \(failure.message)"
                case .success(let facts):
                    try update(entry.desktop, with: facts)
                    statuses[entry.index].readBack = true
                    statuses[entry.index].ubr = facts.inspection.ubr
                    statuses[entry.index].rebootPending = facts.inspection.servicing.rebootPending
                    statuses[entry.index].pendingPackages = facts.inspection.servicing.pendingPackages
                    statuses[entry.index].queuedInImage = facts.runner.queuedFiles.sorted()
                    statuses[entry.index].boots = facts.runner.boots.count
                    statuses[entry.index].answerFiles = AnswerFileStatus(inspection: facts.inspection, runner: facts.runner)
                    statuses[entry.index].items = try items(entry.desktop.id, windows: facts.inspection.servicing)
                }
            }
        }
        for index in statuses.indices where statuses[index].items.isEmpty {
            if let desktop = try? DesktopPatcher.load(statuses[index].desktop, inventory: inventory) {
                statuses[index].items = try items(desktop.id, windows: nil)
            }
        }
        return (statuses, launches)
    }

    /// The OS layer the domain boots, as the engine opens it.
    private func topVolume(_ desktop: OSLayers.Desktop) throws -> DiskVolume? {
        guard let name = try inventory.read({ db in
            try String.fetchOne(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, OSLayers.top])
        }) else { return nil }
        var volume = DiskVolume.libvirt(uri: desktop.settings.uri, pool: desktop.settings.pool, volume: name, keyID: desktop.keyID)
        if let golden = try OSLayers.goldenPath(desktop, inventory: inventory) { volume.backingCopies = [golden: desktop.settings.imagePath] }
        return volume
    }

    /// Moves staged rows to what the runner logged (the last result line per queue file wins).
    private func update(_ desktop: OSLayers.Desktop, with facts: ImageFacts) throws {
        var results: [String: RunnerResult] = [:]
        for result in facts.runner.results { results[result.item] = result }
        try inventory.write { db in
            let now = Date()
            let staged = try Row.fetchAll(db, sql: """
                SELECT id, file, queueFile, state, exitCode FROM patchItem
                WHERE desktopID = ? AND queueFile IS NOT NULL AND state IN ('staged', 'reboot-pending')
                """, arguments: [desktop.id])
            for row in staged {
                guard let result = results[row["queueFile"] as String] else { continue }
                let state: PatchItemState = result.exitCode == 0 ? .succeeded
                    : BootRunnerContract.rebootExitCodes.contains(result.exitCode)
                        ? (facts.runner.boots.last.map { $0.time > result.ended } == true ? .succeeded : .rebootPending)
                        : .failed
                guard state.rawValue != row["state"] as String || row["exitCode"] as Int32? != result.exitCode else { continue }
                try db.execute(sql: """
                    UPDATE patchItem SET state = ?, exitCode = ?, rebootNeeded = ?, startedAt = ?, endedAt = ?, checkedAt = ?, detail = ?
                    WHERE id = ?
                    """, arguments: [state.rawValue, result.exitCode, result.rebootNeeded, result.started, result.ended, now,
                                     state == .failed ? "exit code \(result.exitCode)" : nil, row["id"] as Int64])
                try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: desktop.name, action: "patch item \(state.rawValue)",
                                    details: ["item": row["file"], "exitCode": "\(result.exitCode)"])
            }
            // After a rollback, the layer the desktop boots again may still queue items that ran
            // in the layer switched out: the image is the truth, they are staged again.
            let queuedNow = Set(facts.runner.queuedFiles)
            let done = try Row.fetchAll(db, sql: """
                SELECT id, file, queueFile FROM patchItem
                WHERE desktopID = ? AND queueFile IS NOT NULL AND state IN ('succeeded', 'failed', 'reboot-pending')
                """, arguments: [desktop.id])
            for row in done where queuedNow.contains(row["queueFile"] as String) && results[row["queueFile"] as String] == nil {
                try db.execute(sql: """
                    UPDATE patchItem SET state = ?, exitCode = NULL, rebootNeeded = NULL, startedAt = NULL, endedAt = NULL, checkedAt = ?,
                    detail = 'staged again: it ran in an OS layer that was rolled back' WHERE id = ?
                    """, arguments: [PatchItemState.staged.rawValue, now, row["id"] as Int64])
                try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: desktop.name, action: "patch item staged again",
                                    details: ["item": row["file"], "reason": "its run was in a rolled-back OS layer"])
            }
            try db.execute(sql: "UPDATE patchItem SET checkedAt = ? WHERE desktopID = ?", arguments: [now, desktop.id])
        }
    }

    private func items(_ desktopID: Int64, windows: ServicingState?) throws -> [PatchItemStatus] {
        try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM patchItem WHERE desktopID = ? ORDER BY id", arguments: [desktopID]).map { row in
                let file: String = row["file"], kind: String = row["kind"]
                var item = PatchItemStatus(file: file, kind: kind, queueFile: row["queueFile"],
                                           state: PatchItemState(rawValue: row["state"]) ?? .failed, exitCode: row["exitCode"],
                                           rebootNeeded: row["rebootNeeded"], started: row["startedAt"], ended: row["endedAt"],
                                           windows: nil, detail: row["detail"], appliedAt: row["appliedAt"])
                if let windows, ["msu", "cab"].contains(kind), let kb = WindowsInspector.knowledgeBaseNumber(in: file) {
                    let pending = windows.packages.contains { WindowsInspector.knowledgeBaseNumber(in: $0.name) == kb && [0x60, 0x65].contains($0.stateCode ?? 0) }
                    item.windows = windows.installedUpdates.contains(kb) ? "\(kb) installed" : pending ? "\(kb) pending reboot" : "\(kb) not installed"
                }
                return item
            }
        }
    }
}
