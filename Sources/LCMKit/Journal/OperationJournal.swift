import Foundation
import GRDB

/// What the next run does with an operation whose run died midway.
public enum RecoveryPolicy: String, Codable, Sendable {
    /// Run the remaining steps (steps must be idempotent: the one in progress runs again).
    case rollForward = "roll-forward"
    /// Undo the completed steps, and the one in progress, in reverse order.
    case rollBack = "roll-back"
}

/// One step of a multi-step operation. `run` must be safe to repeat (a killed run may have done
/// part of it); `undo` must tolerate a step that was only partly done.
public struct OperationStep: Sendable {
    public let name: String
    public let run: @Sendable (OperationContext) throws -> Void
    public let undo: @Sendable (OperationContext) throws -> Void

    public init(_ name: String, run: @escaping @Sendable (OperationContext) throws -> Void,
                undo: @escaping @Sendable (OperationContext) throws -> Void = { _ in }) {
        self.name = name; self.run = run; self.undo = undo
    }
}

/// A kind of multi-step operation (deploy, patch, wipe, ...). Its parameters are stored in the
/// journal so that a later run can rebuild the same steps and finish or undo them.
public protocol JournaledOperation: Sendable {
    static var kind: String { get }
    var objectKind: String { get }
    var objectID: String { get }
    var recovery: RecoveryPolicy { get }
    var steps: [OperationStep] { get }
    /// The parameters, as stored in the journal. Never put secrets here.
    var parameters: [String: String] { get }
    init(parameters: [String: String]) throws
}

/// Known operation kinds, so recovery can rebuild an operation from its journal row.
public struct OperationRegistry: Sendable {
    private var kinds: [String: any JournaledOperation.Type] = [:]

    public init() {}
    public mutating func register(_ type: any JournaledOperation.Type) { kinds[type.kind] = type }
    func make(kind: String, parameters: [String: String]) throws -> (any JournaledOperation)? {
        try kinds[kind].map { try $0.init(parameters: parameters) }
    }
}

/// Handed to each step: who is running, and a way to record what the step leaves running or lying
/// around (helper processes, sockets, temporary files) so a dead run's leftovers can be cleaned up.
public final class OperationContext: @unchecked Sendable {
    public let operationID: String
    public let inventory: Inventory
    /// The run's fail points and connections (from its `LCMContext`), for steps that crash-test
    /// inside themselves or reach a device.
    public let failPoints: FailPoints
    public let connections: ConnectionFactory
    init(operationID: String, inventory: Inventory, failPoints: FailPoints, connections: ConnectionFactory) {
        self.operationID = operationID; self.inventory = inventory; self.failPoints = failPoints; self.connections = connections
    }

    @discardableResult
    public func recordResource(_ resource: LeftoverResource) throws -> Int64 {
        try inventory.write { db in
            try db.execute(sql: """
                INSERT INTO operationResource (operationID, kind, value, processStartTime, released, createdAt)
                VALUES (?, ?, ?, ?, 0, ?)
                """, arguments: [operationID, resource.kind.rawValue, resource.value, resource.processStartTime, Date()])
            return db.lastInsertedRowID
        }
    }

    /// Cleans up one recorded resource now and marks it released.
    public func release(resourceID: Int64) throws {
        try OperationJournal.release(resourceIDs: [resourceID], inventory: inventory)
    }

    /// Merges `changes` into the stored parameters: for a value a step settles (a version number,
    /// a destination path) that recovery must know to undo it. Record it before acting on it.
    public func updateParameters(_ changes: [String: String]) throws {
        try inventory.write { db in
            var current = try Self.decodeParameters(String.fetchOne(db, sql: "SELECT parameters FROM operation WHERE id = ?",
                                                                    arguments: [operationID]))
            current.merge(changes) { $1 }
            try db.execute(sql: "UPDATE operation SET parameters = ?, updatedAt = ? WHERE id = ?",
                           arguments: [OperationJournal.json(current), Date(), operationID])
        }
    }

    /// The parameters as stored now (including updates by earlier steps, of this run or a dead one).
    public func parameters() throws -> [String: String] {
        try inventory.read { db in
            try Self.decodeParameters(String.fetchOne(db, sql: "SELECT parameters FROM operation WHERE id = ?",
                                                      arguments: [operationID]))
        }
    }

    static func decodeParameters(_ text: String?) throws -> [String: String] {
        guard let text else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}

/// The operations journal: every multi-step operation records its plan and each step before
/// moving on, under the object's lock. A run killed at any point is finished or undone by the next
/// run on that object (`run` recovers first) or by `recoverAll` (`lcm recover`).
public struct OperationJournal: Sendable {
    public let inventory: Inventory
    public let registry: OperationRegistry
    public let failPoints: FailPoints
    public let connections: ConnectionFactory
    /// How long to wait for another run's lock on the same object.
    public var lockTimeout: Double

    /// LCMKit's entry points take theirs from `LCMContext.journal()`.
    public init(inventory: Inventory, registry: OperationRegistry, failPoints: FailPoints = .none,
                connections: ConnectionFactory = .libvirt, lockTimeout: Double = 10) {
        self.inventory = inventory; self.registry = registry; self.failPoints = failPoints
        self.connections = connections; self.lockTimeout = lockTimeout
    }

    /// The outcome of recovering one operation left behind by a dead run.
    public struct Recovered: Codable, Sendable, Equatable {
        public var operationID: String
        public var kind: String
        public var objectKind: String
        public var objectID: String
        public var action: String          // "completed", "rolled back", "failed", "skipped: ..."
        public var resourcesCleaned: Int
    }

    /// Runs `operation` to completion; on a step's failure, undoes what this run did and rethrows.
    /// `holding` is the object's lock when the caller already holds it for a longer span.
    @discardableResult
    public func run(_ operation: some JournaledOperation, holding held: FileLock? = nil) throws -> [Recovered] {
        let lock = try ObjectLock.acquire(unlessHeld: held, home: inventory.home, kind: operation.objectKind,
                                          id: operation.objectID, timeout: lockTimeout)
        defer { lock?.unlock() }
        let recovered = try recoverHeld(objectKind: operation.objectKind, objectID: operation.objectID)

        let id = UUID().uuidString.lowercased()
        let kind = type(of: operation).kind
        let steps = operation.steps
        try inventory.write { db in
            let now = Date()
            try db.execute(sql: """
                INSERT INTO operation (id, kind, objectKind, objectID, state, plan, parameters, ownerPID, startedAt, updatedAt)
                VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)
                """, arguments: [id, kind, operation.objectKind, operation.objectID,
                                 Self.json(steps.map(\.name)), Self.json(operation.parameters), getpid(), now, now])
            for (index, step) in steps.enumerated() {
                try db.execute(sql: "INSERT INTO operationStep VALUES (?, ?, ?, 'pending', ?)",
                               arguments: [id, index, step.name, now])
            }
            try AuditLog.record(db, actor: inventory.actor, objectKind: operation.objectKind,
                                objectID: operation.objectID, action: "\(kind) started", details: ["operation": id])
        }
        let context = OperationContext(operationID: id, inventory: inventory, failPoints: failPoints, connections: connections)
        do {
            try execute(steps: steps, from: 0, operationID: id, kind: kind, context: context)
        } catch {
            let rolledBack = (try? rollBack(operationID: id, steps: steps, context: context)) ?? false
            try? finish(operationID: id, state: rolledBack ? "rolled_back" : "failed", failure: "\(error)",
                        objectKind: operation.objectKind, objectID: operation.objectID,
                        action: "\(kind) \(rolledBack ? "failed, undone" : "failed, undo incomplete")", outcome: "failed")
            throw error
        }
        try finish(operationID: id, state: "completed", failure: nil, objectKind: operation.objectKind,
                   objectID: operation.objectID, action: "\(kind) completed", outcome: "ok")
        return recovered
    }

    /// Recovers every unfinished operation whose owner is gone (its object lock is free).
    /// Operations still held by a live run are reported as skipped.
    public func recoverAll() throws -> [Recovered] {
        let pending = try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT DISTINCT objectKind, objectID FROM operation WHERE state = 'running'")
                .map { ($0["objectKind"] as String, $0["objectID"] as String) }
        }
        var results: [Recovered] = []
        for (objectKind, objectID) in pending {
            let lock = FileLock(path: ObjectLock.path(home: inventory.home, kind: objectKind, id: objectID))
            guard try lock.lock(timeout: 0) else {
                results.append(Recovered(operationID: "-", kind: "-", objectKind: objectKind, objectID: objectID,
                                         action: "skipped: still running (pid \(lock.holderPID.map(String.init) ?? "?"))",
                                         resourcesCleaned: 0))
                continue
            }
            defer { lock.unlock() }
            results += try recoverHeld(objectKind: objectKind, objectID: objectID)
        }
        return results
    }

    /// Number of operations left unfinished (for `lcm doctor`).
    public func unfinishedCount() throws -> Int {
        try inventory.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM operation WHERE state = 'running'") ?? 0 }
    }

    // MARK: - Internals

    /// Recovers the object's unfinished operations. The caller holds the object's lock, so any
    /// operation still marked running belongs to a run that died.
    private func recoverHeld(objectKind: String, objectID: String) throws -> [Recovered] {
        let rows = try inventory.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, kind, parameters FROM operation
                WHERE state = 'running' AND objectKind = ? AND objectID = ? ORDER BY startedAt
                """, arguments: [objectKind, objectID])
        }
        var results: [Recovered] = []
        for row in rows {
            let id: String = row["id"]
            let kind: String = row["kind"]
            let parameters = (try? JSONDecoder().decode([String: String].self, from: Data((row["parameters"] as String).utf8))) ?? [:]
            let cleaned = try Self.releaseAll(operationID: id, inventory: inventory)
            guard let operation = try registry.make(kind: kind, parameters: parameters) else {
                results.append(Recovered(operationID: id, kind: kind, objectKind: objectKind, objectID: objectID,
                                         action: "skipped: this lcm does not know operation kind \(kind)",
                                         resourcesCleaned: cleaned))
                continue
            }
            let steps = operation.steps
            let context = OperationContext(operationID: id, inventory: inventory, failPoints: failPoints, connections: connections)
            let action: String
            switch operation.recovery {
            case .rollForward:
                let states = try stepStates(operationID: id)
                let next = states.firstIndex { $0 != "done" } ?? steps.count
                do {
                    try execute(steps: steps, from: next, operationID: id, kind: kind, context: context)
                    try finish(operationID: id, state: "completed", failure: nil, objectKind: objectKind,
                               objectID: objectID, action: "\(kind) completed by recovery", outcome: "ok")
                    action = "completed"
                } catch {
                    let undone = (try? rollBack(operationID: id, steps: steps, context: context)) ?? false
                    try finish(operationID: id, state: undone ? "rolled_back" : "failed", failure: "\(error)",
                               objectKind: objectKind, objectID: objectID,
                               action: "\(kind) recovery failed", outcome: "failed")
                    action = undone ? "rolled back" : "failed"
                }
            case .rollBack:
                let undone = try rollBack(operationID: id, steps: steps, context: context)
                try finish(operationID: id, state: undone ? "rolled_back" : "failed", failure: "run died; undone by recovery",
                           objectKind: objectKind, objectID: objectID,
                           action: "\(kind) undone by recovery", outcome: undone ? "ok" : "failed")
                action = undone ? "rolled back" : "failed"
            }
            _ = try Self.releaseAll(operationID: id, inventory: inventory)
            results.append(Recovered(operationID: id, kind: kind, objectKind: objectKind, objectID: objectID,
                                     action: action, resourcesCleaned: cleaned))
        }
        return results
    }

    private func execute(steps: [OperationStep], from start: Int, operationID: String, kind: String,
                         context: OperationContext) throws {
        guard start < steps.count else { return }
        for index in start..<steps.count {
            let step = steps[index]
            try setStepState(operationID: operationID, index: index, state: "started")
            failPoints.hit(kind: kind, step: step.name, moment: .started)
            try step.run(context)
            failPoints.hit(kind: kind, step: step.name, moment: .ran)
            try setStepState(operationID: operationID, index: index, state: "done")
            failPoints.hit(kind: kind, step: step.name, moment: .recorded)
        }
    }

    /// Undoes started and done steps in reverse. Returns false if an undo failed (the operation
    /// then needs an admin; its journal row says so).
    private func rollBack(operationID: String, steps: [OperationStep], context: OperationContext) throws -> Bool {
        let states = try stepStates(operationID: operationID)
        var clean = true
        for index in stride(from: min(states.count, steps.count) - 1, through: 0, by: -1)
        where states[index] == "started" || states[index] == "done" {
            do {
                try steps[index].undo(context)
                try setStepState(operationID: operationID, index: index, state: "undone")
            } catch {
                clean = false
            }
        }
        _ = try Self.releaseAll(operationID: operationID, inventory: inventory)
        return clean
    }

    private func stepStates(operationID: String) throws -> [String] {
        try inventory.read { db in
            try String.fetchAll(db, sql: "SELECT state FROM operationStep WHERE operationID = ? ORDER BY stepIndex",
                                arguments: [operationID])
        }
    }

    private func setStepState(operationID: String, index: Int, state: String) throws {
        try inventory.write { db in
            try db.execute(sql: "UPDATE operationStep SET state = ?, updatedAt = ? WHERE operationID = ? AND stepIndex = ?",
                           arguments: [state, Date(), operationID, index])
            try db.execute(sql: "UPDATE operation SET updatedAt = ? WHERE id = ?", arguments: [Date(), operationID])
        }
    }

    private func finish(operationID: String, state: String, failure: String?, objectKind: String, objectID: String,
                        action: String, outcome: String) throws {
        _ = try Self.releaseAll(operationID: operationID, inventory: inventory)
        try inventory.write { db in
            try db.execute(sql: "UPDATE operation SET state = ?, failure = ?, updatedAt = ? WHERE id = ?",
                           arguments: [state, failure, Date(), operationID])
            var details = ["operation": operationID]
            if let failure { details["failure"] = failure }
            try AuditLog.record(db, actor: inventory.actor, objectKind: objectKind, objectID: objectID,
                                action: action, outcome: outcome, details: details)
        }
    }

    static func releaseAll(operationID: String, inventory: Inventory) throws -> Int {
        let ids = try inventory.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM operationResource WHERE operationID = ? AND released = 0",
                               arguments: [operationID])
        }
        try release(resourceIDs: ids, inventory: inventory)
        return ids.count
    }

    static func release(resourceIDs: [Int64], inventory: Inventory) throws {
        for id in resourceIDs {
            let row = try inventory.read { db in
                try Row.fetchOne(db, sql: "SELECT kind, value, processStartTime FROM operationResource WHERE id = ?",
                                 arguments: [id])
            }
            guard let row, let kind = LeftoverResource.Kind(rawValue: row["kind"]) else { continue }
            LeftoverResource(kind: kind, value: row["value"], processStartTime: row["processStartTime"]).cleanUp()
            try inventory.write { db in
                try db.execute(sql: "UPDATE operationResource SET released = 1 WHERE id = ?", arguments: [id])
            }
        }
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
