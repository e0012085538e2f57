import Dispatch
import Foundation

/// Stops an appliance whose current call has run past its time limit.
///
/// A libguestfs call blocks until the appliance answers, and an appliance under TCG can hang
/// (seen: hours at full CPU in one read-only call). Killing its qemu makes the blocked call
/// return an error at once, so a caller that relaunches for the remaining disks carries on.
/// The limit restarts with every call; calls that move data grant themselves more time.
final class CallWatchdog: @unchecked Sendable {
    /// Seconds one call may take before the appliance is stopped.
    let limit: Double
    private let lock = NSLock()
    private var processID: pid_t = 0
    private var timer: DispatchSourceTimer?
    /// The call in progress, when it started, and the extra time it was granted.
    private var current: (operation: String, start: ContinuousClock.Instant)?
    private var calls: [String] = []
    private var extraSeconds: Double = 0
    /// Set once the watchdog stopped the appliance: the call it gave up on and its allowance.
    private var expired: (operation: String, seconds: Double)?

    init(limit: Double) { self.limit = limit }

    deinit { timer?.cancel() }

    /// Starts watching the appliance `pid` (after launch).
    func arm(processID pid: pid_t) {
        lock.withLock {
            guard pid > 0, timer == nil else { return }
            processID = pid
            let interval = max(0.2, min(limit / 4, 5))
            let source = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
            source.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
            source.setEventHandler { [weak self] in self?.check() }
            timer = source
            source.resume()
        }
    }

    /// Stops watching (the appliance was shut down or closed).
    func disarm() {
        lock.withLock {
            timer?.cancel()
            timer = nil
            processID = 0
        }
    }

    /// Marks the start of a call; calls nest (a composite wrapper calling simple ones), and the
    /// clock restarts on every entry and every return to an outer call.
    func begin(_ operation: String) {
        lock.withLock {
            calls.append(operation)
            current = (operation, .now)
        }
    }

    func end() {
        lock.withLock {
            calls.removeLast()
            current = calls.last.map { ($0, .now) }
        }
    }

    /// Grants the calls made inside `body` `seconds` more (an upload of a large file).
    func allowingLonger<T>(by seconds: Double, _ body: () throws -> T) rethrows -> T {
        let previous = lock.withLock {
            let previous = extraSeconds
            extraSeconds += max(0, seconds)
            return previous
        }
        defer { lock.withLock { extraSeconds = previous } }
        return try body()
    }

    /// The call the watchdog gave up on and the seconds it had, if it stopped the appliance.
    var expiry: (operation: String, seconds: Double)? { lock.withLock { expired } }

    private func check() {
        lock.withLock {
            guard let current, processID > 0, expired == nil else { return }
            let allowed = limit + extraSeconds
            guard (ContinuousClock.now - current.start) > .milliseconds(Int64(allowed * 1000)) else { return }
            expired = (current.operation, allowed)
            kill(processID, SIGKILL)
            timer?.cancel()
            timer = nil
        }
    }
}
