import Foundation

/// A disk batch as a journaled operation (kind "disk-batch"), for callers whose work on the disks
/// is not itself part of a larger operation (inspection, a one-off patch run, tests, benchmarks).
///
/// Its one step runs the engine with the operation as leftover recorder. If lcm dies mid-batch,
/// recovery (the next `DiskBatch.run` on the same object, or `lcm recover`) kills the batch's
/// qemu-nbd and appliance, removes its sockets and working directory, and marks the batch rolled
/// back; the caller runs it again (the engine's work must be safe to repeat, like every step).
public struct DiskBatchOperation: JournaledOperation {
    public static let kind = "disk-batch"
    public let objectID: String
    let body: (@Sendable (OperationContext) throws -> Void)?

    init(objectID: String, body: (@Sendable (OperationContext) throws -> Void)?) {
        self.objectID = objectID; self.body = body
    }

    /// Rebuilt by recovery: nothing to redo, only leftovers to clean (done before any undo).
    public init(parameters: [String: String]) throws {
        guard let objectID = parameters["object"] else {
            throw LCMError(.dataError, "disk-batch operation parameters incomplete")
        }
        self.init(objectID: objectID, body: nil)
    }

    public var objectKind: String { "disk-batch" }
    public var recovery: RecoveryPolicy { .rollBack }
    public var parameters: [String: String] { ["object": objectID] }

    public var steps: [OperationStep] {
        let body = self.body
        return [OperationStep("batch", run: { context in
            guard let body else {
                throw LCMError(.failure, "a disk batch cannot be resumed; run it again")
            }
            try body(context)
        })]
    }
}

/// Runs the disk engine as one journaled `disk-batch` operation.
public enum DiskBatch {
    /// Runs `work` on each of `volumes` (see `DiskEngine.run`) under the journal, as object
    /// `objectID`. A dead earlier batch on the same object is cleaned up first.
    public static func run<Value: Sendable>(
        inventory: Inventory, objectID: String, volumes: [DiskVolume], options: DiskEngine.Options = .init(),
        registry: OperationRegistry = .standard, work: @escaping (DiskAccess) throws -> Value
    ) throws -> DiskBatchReport<Value> {
        let box = UncheckedBox<DiskBatchReport<Value>?>(nil)
        let workBox = UncheckedBox(work)
        let operation = DiskBatchOperation(objectID: objectID) { context in
            let engine = DiskEngine(inventory: context.inventory, recorder: context, options: options)
            box.value = try engine.run(volumes, work: workBox.value)
        }
        try OperationJournal(inventory: inventory, registry: registry, failPoints: options.failPoints,
                             connections: options.connections).run(operation)
        guard let report = box.value else { throw LCMError(.failure, "the disk batch produced no report") }
        return report
    }
}

/// Carries a value into a `@Sendable` closure that runs synchronously on the caller's behalf.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
