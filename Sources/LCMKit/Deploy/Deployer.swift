import Foundation
import GRDB
import Libvirt

/// One desktop's result in a deploy run.
public struct DeployOutcome: Codable, Sendable {
    public enum State: String, Codable, Sendable { case deployed, skipped, failed }
    public var desktop: String
    public var device: String?
    public var image: String?
    public var state: State
    /// How far the desktop got (nil when it was refused before anything was made).
    public var stage: DeployStage?
    public var storageBus: String?
    public var encrypted: Bool?
    public var computerName: String?
    public var domainUUID: String?
    public var running: Bool = false
    /// Things the admin should know (SATA fallback, ungeneralized image allowed, golden uploaded).
    public var notes: [String] = []
    public var error: String?
    /// The documented exit code of the failure.
    public var exitCode: Int32?
}

public struct DeployReport: Codable, Sendable {
    public var outcomes: [DeployOutcome]
    /// Appliance launches for the whole run's personalization.
    public var launches: Int
    public var seconds: Double
    /// Where those seconds went.
    public var phases = DeployPhases()
    public var failed: Int { outcomes.filter { $0.state == .failed }.count }
}

/// Wall-clock seconds of a deploy run's phases. The golden upload happens while preparing (once
/// per host and version), so a batch's per-desktop cost is `seconds - goldenUpload` over its desktops.
public struct DeployPhases: Codable, Sendable, Equatable {
    /// Records, golden on each host, keys and volumes (desktops prepared a few at once).
    public var prepare = 0.0
    /// Golden versions uploaded to hosts' pools in this run (part of `prepare`).
    public var goldenUpload = 0.0
    /// The offline personalization batch: appliance launches and the work in them.
    public var personalize = 0.0
    /// Domains defined (and started, unless --no-start).
    public var define = 0.0
    public init() {}
}

/// Deploys desktops in three phases, so a batch shares its expensive parts: each desktop's records,
/// golden upload (once per host), key and volumes (journaled per desktop); the offline
/// personalization of all of them in one disk-engine batch; then each domain defined and started.
/// One desktop's failure does not stop the others. A desktop this run created and could not finish
/// is removed again; one an earlier run left unfinished is continued from its stage.
public struct Deployer {
    let context: LCMContext
    public let inventory: Inventory
    public let options: DeployOptions

    /// Personalization runs with the context's engine options; golden uploads' bytes and desktops
    /// defined go to its progress (the engine tells of launches and disks).
    public init(context: LCMContext, options: DeployOptions) throws {
        self.context = context; self.inventory = try context.inventory(); self.options = options
    }

    /// A desktop of this run on its way through the phases.
    final class Item {
        var outcome: DeployOutcome
        var settings: DesktopSettings
        var desktopID: Int64?
        var createdByThisRun = false
        var volumes: DesktopVolumeSet?
        /// Time this desktop's preparation spent uploading its golden version (0 when it was there).
        var goldenUploadSeconds = 0.0
        /// The desktop's lock, held by this run from its first look at the row to the end.
        var lock: FileLock?
        init(outcome: DeployOutcome, settings: DesktopSettings) { self.outcome = outcome; self.settings = settings }
        var isFailed: Bool { outcome.state == .failed }
    }

    public func run(_ requests: [DeployRequest]) throws -> DeployReport {
        try run(rows: requests.map { .success($0) })
    }

    /// Rows of a deployment file: a row that could not be read is reported failed, the others go on.
    public func run(rows: [Result<DeployRequest, LCMError>]) throws -> DeployReport {
        let clock = ContinuousClock(), start = clock.now
        // A killed earlier run may have left a personalization batch (appliance, qemu-nbd) or a
        // half-prepared desktop: clean those up first (operations still held by a live run are skipped).
        _ = try context.journal().recoverAll()
        var planning = plan(rows)
        let locks = DesktopLocks(planning.planned.map(\.name), home: inventory.home)
        defer { locks.release() }
        let items = resume(planning.planned, locks: locks, outcomes: &planning.outcomes)
        checkHosts(items.filter { !$0.isFailed })
        let (launches, phases) = runPhases(items)
        removeWhatThisRunMade(items)
        var outcomes = planning.outcomes + items.map(\.outcome)
        let order = Dictionary(planning.requests.enumerated().map { ($0.element.desktop ?? "", $0.offset) }, uniquingKeysWith: { a, _ in a })
        outcomes.sort { (order[$0.desktop] ?? Int.max) < (order[$1.desktop] ?? Int.max) }
        return DeployReport(outcomes: outcomes, launches: launches, seconds: (clock.now - start).seconds, phases: phases)
    }

    /// The rows planned: each desktop's name and settings, or its failure (an unreadable row, a
    /// refused request, a name given twice).
    struct Planning {
        var outcomes: [DeployOutcome] = []
        var requests: [DeployRequest] = []
        var planned: [(request: DeployRequest, name: String, settings: DesktopSettings)] = []
    }

    func plan(_ rows: [Result<DeployRequest, LCMError>]) -> Planning {
        var planning = Planning()
        var names = Set<String>()
        for row in rows {
            let request: DeployRequest
            switch row {
            case .success(let value): request = value
            case .failure(let error):
                planning.outcomes.append(DeployOutcome(desktop: "-", state: .failed, error: error.description, exitCode: error.code.rawValue))
                continue
            }
            planning.requests.append(request)
            do {
                let plan = try inventory.read { db in try DeployPlanner.plan(request, options: options, accelerator: context.accelerator, db: db) }
                guard names.insert(plan.name).inserted else {
                    throw LCMError(.usage, "desktop \(plan.name) appears twice in this run", hint: "give each row its own desktop name")
                }
                planning.planned.append((request, plan.name, plan.settings))
            } catch {
                let name = request.desktop ?? DeployPlanner.defaultDesktopName(device: request.device, user: request.user)
                planning.outcomes.append(Self.failure(desktop: name, request: request, error))
            }
        }
        return planning
    }

    /// Each desktop is locked from the first look at its row to its last write, as patching
    /// does: a second run on it waits, then finds it deployed or is refused busy (75). Taken in
    /// name order, so two batches sharing desktops never hold one each and wait for the other.
    final class DesktopLocks {
        private(set) var held: [String: FileLock] = [:]
        private(set) var failures: [String: any Error] = [:]

        init(_ names: [String], home: LCMHome) {
            for name in names.sorted() {
                do {
                    held[name] = try ObjectLock.acquire(home: home, kind: "desktop", id: name, timeout: Deployer.lockWait)
                } catch { failures[name] = error }
            }
        }

        func release() { for lock in held.values { lock.unlock() } }
    }

    /// The items this run works on, each holding its lock; a desktop already deployed is skipped,
    /// one that could not be locked or resumed fails.
    func resume(_ planned: [(request: DeployRequest, name: String, settings: DesktopSettings)], locks: DesktopLocks,
                outcomes: inout [DeployOutcome]) -> [Item] {
        var items: [Item] = []
        for (request, name, settings) in planned {
            do {
                if let failure = locks.failures[name] { throw failure }
                guard let item = try resume(name, settings) else {
                    outcomes.append(DeployOutcome(desktop: name, device: settings.deviceTag, image: settings.imageReference,
                                                  state: .skipped, stage: .complete, notes: ["already deployed"]))
                    continue
                }
                item.lock = locks.held[name]
                items.append(item)
            } catch {
                outcomes.append(Self.failure(desktop: name, request: request, error))
            }
        }
        return items
    }

    /// Prepare (a few desktops at once), personalize (one batch), define: each phase takes the
    /// items the one before left standing. Returns the appliance launches and where the time went.
    func runPhases(_ items: [Item]) -> (launches: Int, phases: DeployPhases) {
        let clock = ContinuousClock()
        var phases = DeployPhases()
        var phaseStart = clock.now
        func phaseSeconds() -> Double {
            defer { phaseStart = clock.now }
            return (clock.now - phaseStart).seconds
        }
        // Preparing a desktop mostly waits on libvirtd, qemu-img and streams: a few at once.
        Parallel.forEach(items.filter { !$0.isFailed && ($0.outcome.stage ?? .recorded) < .personalized },
                         width: Self.preparedAtOnce) { prepare($0) }
        phases.prepare = phaseSeconds()
        phases.goldenUpload = items.reduce(0) { $0 + $1.goldenUploadSeconds }
        let launches = personalize(items.filter { !$0.isFailed && $0.outcome.stage == .prepared })
        phases.personalize = phaseSeconds()
        let finishing = items.filter { !$0.isFailed && $0.outcome.stage == .personalized }
        for (index, item) in finishing.enumerated() {
            finish(item)
            context.progress?(ProgressUpdate("desktops defined", done: UInt64(index + 1), of: UInt64(finishing.count)))
        }
        phases.define = phaseSeconds()
        return (launches, phases)
    }

    /// Removes what this run made of a desktop it could not finish; the failure stays in the
    /// audit log and the report.
    func removeWhatThisRunMade(_ items: [Item]) {
        for item in items where item.isFailed && item.createdByThisRun {
            let removed = (try? DesktopRemoval(context: context, inventory: inventory).remove(
                item.outcome.desktop, discardUserData: true, reason: "deploy failed", holding: item.lock)) != nil
            item.outcome.stage = nil
            if removed { item.outcome.notes.append("removed again: nothing of this desktop was left behind") }
        }
    }

    /// The item for a planned desktop: new, continued from an earlier run's stage, or nil when it
    /// is already complete (a rerun of the same batch skips it).
    func resume(_ name: String, _ planned: DesktopSettings) throws -> Item? {
        let existing = try inventory.read { db in try DesktopStore.find(db, name: name) }
        var outcome = DeployOutcome(desktop: name, device: planned.deviceTag, image: planned.imageReference, state: .deployed,
                                    storageBus: planned.storageBus.rawValue, encrypted: planned.encrypted, computerName: planned.computerName)
        guard let existing else {
            let item = Item(outcome: outcome, settings: planned)
            item.createdByThisRun = true
            return item
        }
        // A retired desktop's name stays with its records and certificate: never "already deployed".
        if existing.status.isHistory {
            throw LCMError(.conflict, "desktop \(name) is \(existing.status.rawValue): its name stays with its retirement records and certificate",
                           hint: "choose another --name")
        }
        guard let stage = existing.stage, let stored = existing.settings else {
            throw LCMError(.conflict, "desktop \(name) exists and was not made by lcm deploy", hint: "choose another --name")
        }
        if stored.deviceTag != planned.deviceTag || stored.imageVersionID != planned.imageVersionID {
            throw LCMError(.conflict, "desktop \(name) exists on \(stored.deviceTag) with \(stored.imageReference)",
                           hint: "choose another --name, or remove it first: lcm deploy --undo \(name)")
        }
        // A rerun continues or skips what an earlier run was asked for; asked for something else,
        // it says so instead of silently keeping the earlier values.
        let changed = stored.askedDifferently(from: planned)
        if !changed.isEmpty {
            throw LCMError(.conflict, "desktop \(name) was \(stage == .complete ? "deployed" : "started") with other values: \(changed.joined(separator: ", "))",
                           hint: "run again with the values it was deployed with, or remove it first: lcm deploy --undo \(name)")
        }
        if stage == .complete { return nil }
        outcome.stage = stage
        outcome.notes.append("continuing an earlier run from stage '\(stage.rawValue)'")
        if stage == .personalized, try !inventory.read({ db in try DeployRecords.layersArePersonalized(db, desktopID: existing.id!) }) {
            // Its layers were made again after they were personalized: made and personalized afresh.
            outcome.stage = .recorded
            outcome.notes.append("its layers are not the ones personalized: made and personalized again")
        }
        let item = Item(outcome: outcome, settings: stored)
        item.desktopID = existing.id
        return item
    }

    /// Fails the desktops of a host whose pool or network is not ready, before anything is made there.
    func checkHosts(_ items: [Item]) {
        let result = DeployHostCheck.check(items.map { ($0.settings, ($0.outcome.stage ?? .recorded) < .prepared) }, inventory: inventory,
                                           connections: context.connections)
        for item in items {
            let key = DeployHostCheck.hostKey(item.settings)
            if let problem = result.problems[key] { fail(item, problem) } else if let note = result.notes[key] { item.outcome.notes.append(note) }
        }
    }

    /// Desktops prepared at once (each holds its own journaled operation and libvirt connection).
    static let preparedAtOnce = 4
    /// Seconds to wait for another run's lock on a desktop (as patching waits).
    static let lockWait = 60.0

    func prepare(_ item: Item) {
        var operation = DeployPrepareOperation(desktop: item.outcome.desktop, settings: item.settings, progress: context.progress)
        do {
            try context.journal().run(operation, holding: item.lock)
            item.desktopID = operation.live?.desktopID
            item.volumes = operation.live?.volumes
            item.goldenUploadSeconds = operation.live?.goldenUploadSeconds ?? 0
            item.outcome.stage = .prepared
            if item.settings.storageBus == .sata {
                item.outcome.notes.append("the image has no virtio storage driver: the OS layer is attached over SATA (slower); add drivers with `lcm image drivers add`")
            }
            if item.settings.allowUngeneralized { item.outcome.notes.append("image not generalized: deployed anyway (--allow-ungeneralized, recorded)") }
        } catch {
            fail(item, error)
        }
        operation.live = nil
    }

    /// Personalizes every prepared desktop's OS layer, and the user-data disk of those with data to
    /// migrate, in one engine batch; returns the launches.
    func personalize(_ items: [Item]) -> Int {
        guard !items.isEmpty else { return 0 }
        var volumes: [DiskVolume] = []
        var owners: [(item: Item, role: String)] = []
        for item in items {
            guard let set = item.volumes else { fail(item, LCMError(.failure, "volumes of \(item.outcome.desktop) unknown")); continue }
            volumes.append(set.os)
            owners.append((item, "os"))
            // The user-data disk was laid out when it was made; it joins the launch only to receive
            // migrated data.
            if item.settings.migrateArchive != nil {
                volumes.append(set.data)
                owners.append((item, "data"))
            }
        }
        var engine = context.engine
        engine.readOnly = false
        let joinBlob = options.joinBlob
        // OS layers made from one golden version are alike until personalized (one an interrupted
        // run left half done differs only in what personalization writes): the catalog's
        // inspection record says where Windows is, and the first one teaches the others the rest.
        let records: [Int64: WindowsInspection]
        do {
            records = try inventory.read { db in try GoldenFacts.recorded(db, imageVersionIDs: Set(items.map(\.settings.imageVersionID))) }
        } catch {
            for item in items where !item.isFailed { fail(item, error) }
            return 0
        }
        let goldens = Dictionary(items.map { ($0.settings.imageSHA256, GoldenFacts(inspection: records[$0.settings.imageVersionID])) },
                                 uniquingKeysWith: { first, _ in first })
        let report: DiskBatchReport<String>
        do {
            report = try DiskBatch.run(inventory: inventory, objectID: "deploy-\(UUID().uuidString.lowercased().prefix(8))",
                                       volumes: volumes, options: engine) { access in
                let owner = owners[access.index]
                return try DeployPersonalization.apply(role: owner.role, settings: owner.item.settings, joinBlob: joinBlob,
                                                       golden: goldens[owner.item.settings.imageSHA256], to: access)
            }
        } catch {
            for item in items where !item.isFailed { fail(item, error) }
            return 0
        }
        for (index, result) in report.results.enumerated() {
            let item = owners[index].item
            switch result.outcome {
            case .success(let note): if !note.isEmpty { item.outcome.notes.append(note) }
            case .failure(let failure):
                fail(item, LCMError(.dataError, "personalizing the \(owners[index].role) disk of \(item.outcome.desktop) failed: \(failure.message)"))
            }
        }
        for item in items where !item.isFailed {
            do {
                try inventory.write { db in
                    try DeployRecords.setPersonalized(db, desktopID: item.desktopID!, name: item.outcome.desktop, generation: item.volumes!.generation)
                }
                context.failPoints.hit(kind: "deploy", step: "personalized", moment: .recorded)
                item.outcome.stage = .personalized
            } catch { fail(item, error) }
        }
        return report.launches
    }

    func finish(_ item: Item) {
        guard let id = item.desktopID else { return fail(item, LCMError(.failure, "desktop \(item.outcome.desktop) has no row")) }
        do {
            let result = try DeployFinish.run(desktopID: id, name: item.outcome.desktop, settings: item.settings, inventory: inventory,
                                              connections: context.connections)
            item.outcome.domainUUID = result.uuid
            item.outcome.running = result.running
            item.outcome.stage = .complete
        } catch {
            fail(item, error)
        }
    }

    func fail(_ item: Item, _ error: any Error) {
        let failed = Self.failure(desktop: item.outcome.desktop, request: nil, error)
        item.outcome.state = .failed
        item.outcome.error = failed.error
        item.outcome.exitCode = failed.exitCode
        if let id = item.desktopID {
            try? inventory.write { db in
                try DesktopStore.setFailure(db, id: id, failed.error)
            }
        }
    }

    static func failure(desktop: String, request: DeployRequest?, _ error: any Error) -> DeployOutcome {
        let lcmError = LCMError.from(error)
        var message = lcmError.message + (lcmError.hint.map { " (\($0))" } ?? "")
        if let origin = request?.origin { message = "\(origin): \(message)" }
        return DeployOutcome(desktop: desktop, device: request?.device, image: request?.image, state: .failed,
                             error: message, exitCode: lcmError.code.rawValue)
    }
}
