import Foundation
import Testing

/// Cost checks for parsers of outside input: the work runs on a thread of its own and the test
/// waits at most `limit`, so a parser that is quadratic fails in seconds instead of holding the
/// suite for minutes (its thread runs on until the test process ends).
enum InputCost {
    /// The work's result, or nil (with the failure recorded) when it ran past `limit`.
    static func finished<T: Sendable>(within limit: Duration, _ what: String,
                                      sourceLocation: SourceLocation = #_sourceLocation,
                                      _ work: @escaping @Sendable () throws -> T) -> Result<T, any Error>? {
        let outcome = Outcome<T>()
        let started = ContinuousClock.now
        let thread = Thread {
            let result = Result { try work() }
            outcome.set(result)
        }
        thread.stackSize = 64 << 20
        thread.start()
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        guard outcome.done.wait(timeout: .now() + seconds) == .success, let result = outcome.result else {
            Issue.record("\(what) took more than \(limit)", sourceLocation: sourceLocation)
            return nil
        }
        print("\(what): \(ContinuousClock.now - started)")
        return result
    }

    private final class Outcome<T: Sendable>: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var stored: Result<T, any Error>?
        var result: Result<T, any Error>? { lock.withLock { stored } }
        func set(_ result: Result<T, any Error>) {
            lock.withLock { stored = result }
            done.signal()
        }
    }
}
