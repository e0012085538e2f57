import Foundation
import GRDB
import Libvirt

/// One desktop's result of a patch run.
public struct DesktopPatchOutcome: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        /// The patch is in a new OS layer that the domain now boots.
        case patched
        /// The desktop was running: the patch waits for it to stop.
        case queued
        case failed
    }
    public var desktop: String
    public var device: String?
    public var state: State
    /// The OS layer the patch went into.
    public var layer: String?
    /// Queue file names staged for the next boot.
    public var staged: [String] = []
    public var registry: RegistryPatch.Outcome?
    public var notes: [String] = []
    public var error: String?
    public var exitCode: Int32?
}

/// The result of `lcm manage patch DESKTOP...`.
public struct DesktopPatchReport: Codable, Sendable {
    public var runID: String
    public var items: [PatchSet.Item]
    public var outcomes: [DesktopPatchOutcome]
    public var launches: Int
    public var secondsTotal: Double
    /// Where the time went (all groups summed): new layers made, disks staged for the engine
    /// (qemu-nbd), appliance launches, work inside the appliance, disks finished, layers switched
    /// in (records, patch media, domain definitions).
    public var timing = Timing()

    public struct Timing: Codable, Sendable {
        public var layers = 0.0, staging = 0.0, launching = 0.0, working = 0.0, finishing = 0.0, switching = 0.0
    }

    public func count(_ state: DesktopPatchOutcome.State) -> Int { outcomes.filter { $0.state == state }.count }
    /// The line cron mails: `patched 18, queued 1, failed 1 (run 1a2b3c4d, 2 items, 1 appliance launches, 95 s)`.
    public var summary: String {
        "patched \(count(.patched)), queued \(count(.queued)), failed \(count(.failed)) (run \(runID.prefix(8)), \(items.count) items, \(launches) appliance launches, \(String(format: "%.0f", secondsTotal)) s)"
    }
}

/// Patches desktops offline: each stopped desktop gets a new OS layer on top of its current one,
/// all layers of a batch are patched in one appliance launch (`--max-parallel` splits it), and a
/// layer is switched in only when its patch is complete (`OSLayers`). A running desktop is not
/// touched: its items are queued (files kept under `$LCM_HOME/patches`) and applied when it has
/// stopped (`applyQueued`, run by the device's libvirt hook or by cron), or, with `shutdown`,
/// it is shut down gracefully first and started again afterwards.
public struct DesktopPatcher {
    public struct Options: Sendable {
        public var shutdown = false
        public var shutdownTimeout: Duration = .seconds(300)
        /// Desktops per appliance launch (nil: all at once).
        public var maxParallel: Int?
        public init() {}
    }

    let context: LCMContext
    let inventory: Inventory
    let options: Options

    public init(context: LCMContext, options: Options = .init()) throws {
        self.context = context; self.inventory = try context.inventory(); self.options = options
    }

    /// Desktops by name, by device, or every deployed one, narrowed to an inventory status when
    /// given; unknown names fail before anything. `--device` and `--all` leave retired desktops
    /// out (`DesktopStatus.history`); one named, or asked for with `--status`, is refused before
    /// anything, since its layers are destroyed.
    public func select(names: [String], device: String?, all: Bool, status: DesktopStatus? = nil) throws -> [String] {
        let selected = try inventory.read { db in
            if !names.isEmpty {
                let known = try DesktopStore.existingNames(db, among: names)
                if let missing = names.first(where: { !known.contains($0) }) {
                    throw LCMError.notFound("desktop \(missing)", hint: "`lcm manage status` lists every desktop")
                }
            } else if let device {
                _ = try DeviceLifecycle.find(db, device)
            } else if !all && status == nil {
                throw LCMError(.usage, "name the desktops to patch", hint: "give DESKTOP..., --device TAG, --all, --status STATUS, or --image NAME for a golden image")
            }
            return try DesktopReports.patchableRows(db, names: names, device: device, status: status)
                .map { (name: $0["name"] as String, status: DesktopStatus(rawValue: $0["status"]) ?? .provisioning) }
        }
        if let retired = selected.first(where: \.status.isHistory) { throw Self.history(retired.name, retired.status) }
        return selected.map(\.name)
    }

    /// The refusal for a desktop whose retirement has begun or ended.
    static func history(_ name: String, _ status: DesktopStatus) -> LCMError {
        LCMError(.conflict, "desktop \(name) is \(status.rawValue): a retired desktop's OS layers are destroyed, it is no longer patched or rolled back",
                 hint: "`lcm retire certificate \(name)` shows what was done to it")
    }

    /// Applies `set` to `names` (already selected). Per-desktop failures are in the report.
    /// Staged files go onto the set's patch medium (`PatchMedium`): the layers get placeholders,
    /// and the medium is written and uploaded only once a layer has taken the patch.
    public func run(_ set: PatchSet, desktops names: [String]) throws -> DesktopPatchReport {
        let clock = ContinuousClock(), started = clock.now
        let runID = UUID().uuidString.lowercased()
        let mediumID = PatchMedium.id(for: set)
        let set = mediumID.map { set.onMedium($0) } ?? set
        var outcomes: [String: DesktopPatchOutcome] = [:]
        var ready: [(OSLayers.Desktop, Connection)] = []
        var restart: [String: Domain] = [:]
        // Each desktop stays locked for the run: `deploy --undo` (and retirement) wait for it.
        var locks: [FileLock] = []
        defer { for lock in locks { lock.unlock() } }
        for name in names {
            var outcome = DesktopPatchOutcome(desktop: name, state: .failed)
            do {
                locks.append(try ObjectLock.acquire(home: inventory.home, kind: "desktop", id: name, timeout: 60))
                let desktop = try Self.load(name, inventory: inventory)
                outcome.device = desktop.settings.deviceTag
                let connection = try context.connect(desktop.settings.uri)
                outcome.notes += try OSLayers.recover(desktop, connection: connection, inventory: inventory, failPoints: context.failPoints)
                if let domain = try connection.lookupDomain(name: name), try domain.isActive {
                    if options.shutdown {
                        try Self.shutDown(domain, name: name, timeout: options.shutdownTimeout,
                                          hint: "try again later, or leave out --shutdown to queue the patch for its next stop")
                        restart[name] = domain
                        outcome.notes.append("shut down for the patch")
                    } else {
                        try queue(set, for: desktop, runID: runID)
                        outcome.state = .queued
                        outcome.notes.append("running: queued until it stops")
                        outcomes[name] = outcome
                        continue
                    }
                }
                ready.append((desktop, connection))
            } catch {
                outcome.error = Self.message(error)
                outcome.exitCode = LCMError.from(error).code.rawValue
            }
            outcomes[name] = outcome
        }
        var launches = 0, timing = DesktopPatchReport.Timing()
        let groupSize = max(1, options.maxParallel ?? max(ready.count, 1))
        for start in stride(from: 0, to: ready.count, by: groupSize) {
            let group = Array(ready[start..<min(ready.count, start + groupSize)])
            launches += patchGroup(set, group, mediumID: mediumID, runID: runID, outcomes: &outcomes, timing: &timing)
        }
        // Media no domain needs any more (their queues ran, their desktops were removed).
        var pruned: Set<String> = []
        for (desktop, connection) in ready where pruned.insert("\(desktop.settings.uri)#\(desktop.settings.pool)").inserted {
            _ = try? PatchMedium.prune(on: connection, pool: desktop.settings.pool, inventory: inventory)
        }
        for (name, domain) in restart {
            do { try domain.start() } catch { outcomes[name]?.notes.append("could not start it again: \(Self.message(error))") }
        }
        return DesktopPatchReport(runID: runID, items: set.items, outcomes: names.compactMap { outcomes[$0] }, launches: launches,
                                  secondsTotal: (clock.now - started).seconds, timing: timing)
    }

    /// New layers for `group`, one engine batch over them, then each switched in or discarded.
    private func patchGroup(_ set: PatchSet, _ group: [(OSLayers.Desktop, Connection)], mediumID: String?, runID: String,
                            outcomes: inout [String: DesktopPatchOutcome], timing: inout DesktopPatchReport.Timing) -> Int {
        let clock = ContinuousClock(), started = clock.now
        var volumes: [DiskVolume] = [], members: [(OSLayers.Desktop, Connection)] = []
        // A new encrypted layer costs qemu-img seconds of PBKDF2 calibration (CPU, no appliance
        // yet): the layers are made side by side, one per core.
        let made = ResultSlots<DiskVolume>(count: group.count)
        let inventory = inventory
        Parallel.forEach(Array(zip(group.indices, group)), width: ProcessInfo.processInfo.activeProcessorCount) { index, member in
            made.set(index, Result { try OSLayers.createPending(member.0, connection: member.1, inventory: inventory) })
        }
        for (index, (desktop, connection)) in group.enumerated() {
            switch made.get(index) {
            case .success(let volume):
                volumes.append(volume)
                members.append((desktop, connection))
            case .failure(let error):
                fail(desktop, connection, error, set: set, runID: runID, discardLayer: true, outcomes: &outcomes)
            }
        }
        timing.layers += (clock.now - started).seconds
        guard !volumes.isEmpty else { return 0 }
        var engine = context.engine
        engine.readOnly = false
        let report: DiskBatchReport<OfflinePatchOutcome>
        do {
            report = try DiskBatch.run(inventory: inventory, objectID: "patch", volumes: volumes, options: engine) { access in
                try OfflinePatcher.apply(set, to: access)
            }
        } catch {
            for (desktop, connection) in members { fail(desktop, connection, error, set: set, runID: runID, discardLayer: true, outcomes: &outcomes) }
            return 0
        }
        timing.staging += report.secondsPreparing
        timing.launching += report.secondsLaunching
        timing.working += report.secondsWorking
        timing.finishing += report.secondsFinishing
        let switching = clock.now
        defer { timing.switching += (clock.now - switching).seconds }
        for (index, result) in report.results.enumerated() {
            let (desktop, connection) = members[index]
            switch result.outcome {
            case .failure(let failure):
                fail(desktop, connection, failure.error(), set: set, runID: runID, discardLayer: true, outcomes: &outcomes)
            case .success(let applied):
                var committed = false
                do {
                    // The medium on the device before the layer that needs it is switched in.
                    if let mediumID {
                        let image = try PatchMedium.image(for: set, id: mediumID, home: inventory.home)
                        _ = try PatchMedium.ensure(mediumID, image: image, on: connection, pool: desktop.settings.pool, inventory: inventory)
                    }
                    let layer = try inventory.read { db in
                        try String.fetchOne(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, OSLayers.pending])
                    }
                    try OSLayers.commit(desktop, inventory: inventory) { db in
                        try Self.record(db, set: set, desktopID: desktop.id, runID: runID, layer: layer, queueFiles: applied.queued)
                        try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: desktop.name, action: "patched",
                                            details: ["items": set.items.map(\.file).joined(separator: ", "), "layer": layer ?? "",
                                                      "run": runID])
                    }
                    committed = true
                    try OSLayers.alignDomain(desktop, connection: connection, inventory: inventory)
                    outcomes[desktop.name]?.state = .patched
                    outcomes[desktop.name]?.layer = layer
                    outcomes[desktop.name]?.staged = applied.queued
                    outcomes[desktop.name]?.registry = applied.registry
                } catch {
                    fail(desktop, connection, error, set: set, runID: runID, discardLayer: !committed, outcomes: &outcomes)
                }
            }
        }
        return report.launches
    }

    /// Records the failure; `discardLayer` deletes the pending layer (false once it was switched
    /// in: then only the domain's alignment failed, and the next run's recovery redoes it).
    private func fail(_ desktop: OSLayers.Desktop, _ connection: Connection, _ error: any Error, set: PatchSet, runID: String,
                      discardLayer: Bool, outcomes: inout [String: DesktopPatchOutcome]) {
        let message = Self.message(error)
        outcomes[desktop.name]?.state = .failed
        outcomes[desktop.name]?.error = message
        outcomes[desktop.name]?.exitCode = LCMError.from(error).code.rawValue
        do {
            // Only a layer that was never switched in is deleted: the desktop keeps its old one.
            if discardLayer { try OSLayers.discardPending(desktop, connection: connection, inventory: inventory) }
            try inventory.write { db in
                for item in set.items {
                    try db.execute(sql: """
                        INSERT INTO patchItem (runID, desktopID, file, kind, sha256, bytes, state, createdAt, detail)
                        VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?)
                        """, arguments: [runID, desktop.id, item.file, item.kind.rawValue, item.sha256, item.bytes, context.clock.now(), message])
                }
                try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: desktop.name, action: "patch failed",
                                    details: ["error": message, "run": runID])
            }
        } catch {
            outcomes[desktop.name]?.notes.append("cleaning up after the failure failed too: \(Self.message(error))")
        }
    }

    /// Rows for the items written into a layer: .reg files succeeded (applied and read back),
    /// the others staged under their queue names (with the medium holding them, if any).
    static func record(_ db: Database, set: PatchSet, desktopID: Int64, runID: String, layer: String?, queueFiles: [String]) throws {
        var queued = zip(queueFiles, set.staged).makeIterator()
        let now = Date()
        for item in set.items {
            let staged = item.appliedOffline ? nil : queued.next()
            try db.execute(sql: """
                INSERT INTO patchItem (runID, desktopID, file, kind, sha256, bytes, queueFile, state, layer, createdAt, appliedAt, medium)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [runID, desktopID, item.file, item.kind.rawValue, item.sha256, item.bytes, staged?.0,
                                 (item.appliedOffline ? PatchItemState.succeeded : .staged).rawValue, layer, now, now,
                                 staged?.1.medium?.mediumID])
        }
    }

    // MARK: Queue for running desktops

    /// Where queued files wait: `$LCM_HOME/patches/<sha256>/<file>` (0600 in 0700 directories).
    static func queuedFile(home: LCMHome, sha256: String, file: String) -> URL {
        home.url.appendingPathComponent("patches").appendingPathComponent(sha256).appendingPathComponent(file)
    }

    private func queue(_ set: PatchSet, for desktop: OSLayers.Desktop, runID: String) throws {
        for (item, source) in zip(set.items, set.sources) {
            let target = Self.queuedFile(home: inventory.home, sha256: item.sha256, file: item.file)
            if !FileManager.default.fileExists(atPath: target.path) {
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                chmod(target.deletingLastPathComponent().deletingLastPathComponent().path, 0o700)
                let partial = target.path + ".part"
                unlink(partial)
                try FileManager.default.copyItem(atPath: source, toPath: partial)
                chmod(partial, 0o600)
                guard rename(partial, target.path) == 0 else { throw LCMError(.cannotWrite, "cannot keep \(item.file) in \(target.path)") }
            }
        }
        try inventory.write { db in
            let now = context.clock.now()
            for item in set.items {
                try db.execute(sql: """
                    INSERT INTO patchItem (runID, desktopID, file, kind, sha256, bytes, state, createdAt, detail)
                    VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, 'desktop running')
                    """, arguments: [runID, desktop.id, item.file, item.kind.rawValue, item.sha256, item.bytes, now])
            }
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: desktop.name, action: "patch queued",
                                details: ["items": set.items.map(\.file).joined(separator: ", "), "run": runID])
        }
        try PatchHook.mark(desktop.name, home: inventory.home)
    }

    /// Applies what is queued for `names` (default: every desktop with queued items) that has
    /// stopped, one run per queued batch; the queued rows are replaced by the run's rows.
    public func applyQueued(names: [String] = []) throws -> [DesktopPatchReport] {
        let queued = try inventory.read { db in try DesktopReports.queuedPatchRows(db) }
        var runs: [(runID: String, desktop: String, files: [String])] = []
        for row in queued where names.isEmpty || names.contains(row["name"] as String) {
            let path = Self.queuedFile(home: inventory.home, sha256: row["sha256"], file: row["file"]).path
            if let index = runs.firstIndex(where: { $0.runID == row["runID"] as String && $0.desktop == row["name"] as String }) {
                runs[index].files.append(path)
            } else {
                runs.append((row["runID"], row["name"], [path]))
            }
        }
        var reports: [DesktopPatchReport] = []
        for run in runs {
            let desktop = try Self.load(run.desktop, inventory: inventory)
            let connection = try context.connect(desktop.settings.uri)
            if let domain = try connection.lookupDomain(name: run.desktop), try domain.isActive { continue }
            let set = try PatchSet(paths: run.files)
            var report = try DesktopPatcher(context: context, options: options).run(set, desktops: [run.desktop])
            if report.outcomes.first?.state != .queued {
                try inventory.write { db in
                    try db.execute(sql: "DELETE FROM patchItem WHERE runID = ? AND desktopID = ? AND state = 'queued'",
                                   arguments: [run.runID, desktop.id])
                }
            }
            report.outcomes = report.outcomes.map { var outcome = $0; outcome.notes.append("queued by run \(run.runID.prefix(8))"); return outcome }
            reports.append(report)
        }
        let stillQueued = Set(try inventory.read { db in try DesktopReports.namesWithQueuedPatches(db) })
        for run in runs where !stillQueued.contains(run.desktop) { PatchHook.unmark(run.desktop, home: inventory.home) }
        return reports
    }

    // MARK: Helpers

    /// One patch run at a time on this lcm home (cron and an admin may overlap): a second run
    /// waits up to `wait` seconds, then fails with `busy` (exit code 75).
    public static func lockRun(home: LCMHome, wait: Double) throws -> FileLock {
        try ObjectLock.acquire(home: home, kind: "patch-run", id: "all", timeout: wait)
    }

    /// Live desktops that have patch records, by name.
    public static func patchedDesktops(inventory: Inventory) throws -> [String] {
        try inventory.read { db in try DesktopReports.patchedNames(db) }
    }

    /// A live, completely deployed desktop; a retired one is refused (its layers are gone).
    static func load(_ name: String, inventory: Inventory) throws -> OSLayers.Desktop {
        guard let desktop = try inventory.read({ db in try DesktopStore.find(db, name: name) }) else {
            throw LCMError.notFound("desktop \(name)", hint: "`lcm manage status` lists every desktop")
        }
        if desktop.status.isHistory { throw history(name, desktop.status) }
        guard desktop.stage == .complete, let settings = desktop.settings else {
            throw LCMError(.conflict, "desktop \(name) is not completely deployed", hint: "rerun its deploy first")
        }
        return OSLayers.Desktop(id: desktop.id!, name: name, settings: settings, keyID: desktop.keyID)
    }

    /// Shuts the desktop down gracefully (ACPI), or fails with a conflict after `timeout`.
    static func shutDown(_ domain: Domain, name: String, timeout: Duration, hint: String) throws {
        guard try domain.shutdown(timeout: timeout) else {
            throw LCMError(.conflict, "desktop \(name) did not shut down within \(Int(timeout.seconds)) s", hint: hint)
        }
    }

    static func message(_ error: any Error) -> String {
        LCMError.from(error).message
    }
}

/// One result per index, filled from several threads.
final class ResultSlots<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<Value, any Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<Value, any Error>) { lock.withLock { slots[index] = result } }

    func get(_ index: Int) -> Result<Value, any Error> {
        lock.withLock { slots[index] } ?? .failure(LCMError(.failure, "no result"))
    }
}
