import Foundation

/// A recorded leftover, to release when the thing is gone or no longer needed.
public struct LeftoverToken: Sendable, Hashable {
    public let id: Int64
    public init(id: Int64) { self.id = id }
}

/// Where the disk engine records what it leaves running or lying around (helper processes,
/// sockets, working directories) before it exists, so that after a kill -9 the next run cleans it
/// up through the operations journal. `OperationContext` is the one real implementation.
public protocol LeftoverRecorder: AnyObject, Sendable {
    /// Records a resource; call before creating it (or, for a process, right after spawning it).
    func record(_ resource: LeftoverResource) throws -> LeftoverToken
    /// Cleans the resource up if it is still there and marks it released.
    func release(_ token: LeftoverToken) throws
    /// The journaled run's fail points, for crash tests at points inside a step (between
    /// recording a file and the next one).
    var failPoints: FailPoints { get }
}

extension LeftoverRecorder {
    public var failPoints: FailPoints { .none }
}

extension OperationContext: LeftoverRecorder {
    public func record(_ resource: LeftoverResource) throws -> LeftoverToken {
        LeftoverToken(id: try recordResource(resource))
    }

    public func release(_ token: LeftoverToken) throws {
        try release(resourceID: token.id)
    }
}
