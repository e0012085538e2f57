import Foundation
import GRDB
import Libvirt

/// One desktop's result of a rollback.
public struct DesktopRollbackOutcome: Codable, Sendable {
    public enum State: String, Codable, Sendable {
        /// The domain boots the layer under the old top; the old top is deleted.
        case rolledBack = "rolled-back"
        /// --dry-run: what a rollback would do; nothing changed.
        case planned
        case failed
    }
    public var desktop: String
    public var device: String?
    public var state: State
    /// The OS layer switched out (and deleted), and the one the desktop boots now.
    public var from: String?
    public var to: String?
    /// Patch items that were in the old layer: gone with it.
    public var itemsRolledBack: [String] = []
    /// Items that ran in the old layer but are still queued in the layer brought back: they run
    /// again at the next boot.
    public var itemsStagedAgain: [String] = []
    public var notes: [String] = []
    public var error: String?
    public var exitCode: Int32?
}

/// The result of `lcm manage rollback`.
public struct DesktopRollbackReport: Codable, Sendable {
    public var runID: String
    public var outcomes: [DesktopRollbackOutcome]
    /// Appliance launches for reading the layers brought back (0 when no rolled-back desktop has
    /// items the guest has run).
    public var launches: Int
    public var secondsTotal: Double
    public var dryRun = false

    public func count(_ state: DesktopRollbackOutcome.State) -> Int { outcomes.filter { $0.state == state }.count }
    /// The line cron mails: `rolled back 3, failed 0 (1 appliance launches, 21 s)`.
    public var summary: String {
        if dryRun {
            return "would roll back \(count(.planned)), would fail \(count(.failed)) (dry run, nothing changed)"
        }
        return "rolled back \(count(.rolledBack)), failed \(count(.failed)) (\(launches) appliance launches, \(String(format: "%.0f", secondsTotal)) s)"
    }
}

/// Rolls desktops back one OS layer (`OSLayers.rollBack`): the top a patch run made is switched
/// out and deleted, the layer under it boots again, and the user-data disk is not touched. A
/// running desktop is refused, or with `shutdown` shut down first and started again afterwards.
/// When the guest has run staged items, the layer brought back is read offline (one appliance
/// launch for the whole run) so that items whose run went with the old layer are staged again.
public struct DesktopRollback {
    public struct Options: Sendable {
        /// Report what would happen (layers, items) and change nothing.
        public var dryRun = false
        public var shutdown = false
        public var shutdownTimeout: Duration = .seconds(300)
        public init() {}
    }

    let context: LCMContext
    let inventory: Inventory
    let options: Options

    public init(context: LCMContext, options: Options = .init()) throws {
        self.context = context; self.inventory = try context.inventory(); self.options = options
    }

    /// Rolls back `names` (already selected). Per-desktop failures are in the report.
    public func run(desktops names: [String]) throws -> DesktopRollbackReport {
        let clock = ContinuousClock(), started = clock.now
        let runID = UUID().uuidString.lowercased()
        var outcomes: [String: DesktopRollbackOutcome] = [:]
        var rolledBack: [(OSLayers.Desktop, Connection)] = []
        var restart: [String: Domain] = [:]
        var locks: [FileLock] = []
        defer { for lock in locks { lock.unlock() } }
        for name in names {
            var outcome = DesktopRollbackOutcome(desktop: name, state: .failed)
            do {
                locks.append(try ObjectLock.acquire(home: inventory.home, kind: "desktop", id: name, timeout: 60))
                let desktop = try DesktopPatcher.load(name, inventory: inventory)
                outcome.device = desktop.settings.deviceTag
                let connection = try context.connect(desktop.settings.uri)
                if options.dryRun {
                    outcome = try plan(desktop, connection: connection, outcome: outcome)
                    outcomes[name] = outcome
                    continue
                }
                // A rollback killed after its switch is this run's rollback: the recovery
                // completes it, and the desktop does not go back one more layer.
                let interrupted = try inventory.read { db in
                    try String.fetchOne(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, OSLayers.discarded])
                }
                // Refused before a desktop is shut down for nothing.
                if interrupted == nil, try layerCount(desktop) < 2 { throw OSLayers.noEarlierLayer(name) }
                if let domain = try connection.lookupDomain(name: name), try domain.isActive {
                    guard options.shutdown else {
                        throw Self.running(name)
                    }
                    try DesktopPatcher.shutDown(domain, name: name, timeout: options.shutdownTimeout,
                                                hint: "try again later, or shut it down yourself first")
                    restart[name] = domain
                    outcome.notes.append("shut down for the rollback")
                }
                outcome.notes += try OSLayers.recover(desktop, connection: connection, inventory: inventory, failPoints: context.failPoints)
                let step = try interrupted.map { try completed($0, desktop) }
                    ?? OSLayers.rollBack(desktop, connection: connection, inventory: inventory, runID: runID, failPoints: context.failPoints)
                outcome.state = .rolledBack
                outcome.from = step.from
                outcome.to = step.to
                outcome.itemsRolledBack = step.itemsRolledBack
                rolledBack.append((desktop, connection))
            } catch {
                outcome.error = DesktopPatcher.message(error)
                outcome.exitCode = LCMError.from(error).code.rawValue
            }
            outcomes[name] = outcome
        }
        let launches = readBack(rolledBack.filter { (try? hasRunItems($0.0)) ?? true }, outcomes: &outcomes)
        var pruned: Set<String> = []
        for (desktop, connection) in rolledBack where pruned.insert("\(desktop.settings.uri)#\(desktop.settings.pool)").inserted {
            _ = try? PatchMedium.prune(on: connection, pool: desktop.settings.pool, inventory: inventory)
        }
        for (name, domain) in restart {
            do { try domain.start() } catch { outcomes[name]?.notes.append("could not start it again: \(DesktopPatcher.message(error))") }
        }
        return DesktopRollbackReport(runID: runID, outcomes: names.compactMap { outcomes[$0] }, launches: launches,
                                     secondsTotal: (clock.now - started).seconds, dryRun: options.dryRun)
    }

    /// Desktops whose current top layer a patch run made (`runID`, or a prefix of at least 8
    /// characters as reports print it): the ones to roll back to undo that run across a fleet.
    public func select(run runID: String) throws -> [String] {
        guard runID.count >= 8 else { throw LCMError(.usage, "--run needs at least the first 8 characters of the run id", hint: "patch reports and `lcm inventory list events` show it") }
        return try inventory.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM patchItem WHERE runID LIKE ? || '%')", arguments: [runID.lowercased()]) == true else {
                throw LCMError.notFound("patch run \(runID)", hint: "patch reports and `lcm inventory list events` show run ids")
            }
            return try DesktopReports.namesPatchedOnTop(db, run: runID.lowercased(), topRole: OSLayers.top)
        }
    }

    static func running(_ name: String) -> LCMError {
        LCMError(.conflict, "desktop \(name) is running: its OS layer cannot be switched under it",
                 hint: "shut it down first, or add --shutdown (shut down, rolled back, started again)")
    }

    /// The dry run's outcome: what `OSLayers.rollBack` would switch, and why it would refuse.
    private func plan(_ desktop: OSLayers.Desktop, connection: Connection, outcome: DesktopRollbackOutcome) throws -> DesktopRollbackOutcome {
        var outcome = outcome
        if let domain = try connection.lookupDomain(name: desktop.name), try domain.isActive {
            if !options.shutdown {
                throw Self.running(desktop.name)
            }
            outcome.notes.append("would be shut down for the rollback and started again")
        }
        let (layers, interrupted) = try inventory.read { db in
            (try Row.fetchAll(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role IN (?, ?) ORDER BY id DESC",
                              arguments: [desktop.id, OSLayers.top, OSLayers.lower]),
             try String.fetchOne(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, OSLayers.discarded]))
        }
        if let interrupted {
            outcome.notes.append("would complete the rollback an interrupted run switched (\(interrupted) deleted), and go no further back")
            outcome.from = interrupted
            outcome.to = layers.first?["name"]
        } else {
            guard layers.count >= 2 else {
                throw OSLayers.noEarlierLayer(desktop.name)
            }
            outcome.from = layers[0]["name"]
            outcome.to = layers[1]["name"]
        }
        outcome.itemsRolledBack = try inventory.read { db in
            try String.fetchAll(db, sql: "SELECT file FROM patchItem WHERE desktopID = ? AND layer = ? ORDER BY id", arguments: [desktop.id, outcome.from])
        }
        outcome.state = .planned
        return outcome
    }

    /// The rollback an interrupted run switched and this run's recovery completed.
    private func completed(_ from: String, _ desktop: OSLayers.Desktop) throws -> OSLayers.Rollback {
        try inventory.read { db in
            OSLayers.Rollback(
                from: from,
                to: try String.fetchOne(db, sql: "SELECT name FROM volume WHERE desktopID = ? AND role = ?", arguments: [desktop.id, OSLayers.top]) ?? "",
                itemsRolledBack: try String.fetchAll(db, sql: "SELECT file FROM patchItem WHERE desktopID = ? AND layer = ? ORDER BY id",
                                                     arguments: [desktop.id, from]))
        }
    }

    private func layerCount(_ desktop: OSLayers.Desktop) throws -> Int {
        try inventory.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM volume WHERE desktopID = ? AND role IN (?, ?)",
                             arguments: [desktop.id, OSLayers.top, OSLayers.lower]) ?? 0
        }
    }

    /// Whether the guest has run any of the desktop's staged items (in whichever layer).
    private func hasRunItems(_ desktop: OSLayers.Desktop) throws -> Bool {
        try inventory.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM patchItem WHERE desktopID = ? AND queueFile IS NOT NULL
                               AND state IN ('succeeded', 'failed', 'reboot-pending'))
                """, arguments: [desktop.id]) ?? false
        }
    }

    /// Reads the layers brought back (`PatchStatusReader`, which stages again what they still
    /// queue), then attaches the patch media those items need. Returns the appliance launches.
    private func readBack(_ members: [(OSLayers.Desktop, Connection)], outcomes: inout [String: DesktopRollbackOutcome]) -> Int {
        guard !members.isEmpty else { return 0 }
        let inventory = inventory
        func staged(_ desktop: OSLayers.Desktop) throws -> [Int64: String] {
            try inventory.read { db in
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, file FROM patchItem WHERE desktopID = ? AND state = ?",
                                                                  arguments: [desktop.id, PatchItemState.staged.rawValue])
                    .map { ($0["id"] as Int64, $0["file"] as String) })
            }
        }
        var before: [String: [Int64: String]] = [:]
        for (desktop, _) in members { before[desktop.name] = (try? staged(desktop)) ?? [:] }
        let result: (statuses: [DesktopPatchStatus], launches: Int)
        do {
            result = try PatchStatusReader(context: context).readWithLaunches(names: members.map(\.0.name))
        } catch {
            for (desktop, _) in members {
                outcomes[desktop.name]?.notes.append("the layer brought back could not be read: `lcm manage patch status \(desktop.name)` retries (\(DesktopPatcher.message(error)))")
            }
            return 0
        }
        for ((desktop, connection), status) in zip(members, result.statuses) {
            if !status.readBack {
                outcomes[desktop.name]?.notes.append("the layer brought back was not read (\(status.note ?? "unknown")): `lcm manage patch status \(desktop.name)` retries")
                continue
            }
            do {
                let now = try staged(desktop)
                outcomes[desktop.name]?.itemsStagedAgain = now.filter { before[desktop.name]?[$0.key] == nil }.sorted { $0.key < $1.key }.map(\.value)
                let aligned = try OSLayers.alignDomain(desktop, connection: connection, inventory: inventory)
                outcomes[desktop.name]?.notes += aligned.missingMedia.map(OSLayers.missingMediumNote)
            } catch {
                outcomes[desktop.name]?.notes.append("attaching the patch media of the items staged again failed: \(DesktopPatcher.message(error))")
            }
        }
        return result.launches
    }
}
