import Foundation

/// Stops an appliance whose launch or current call has run past its time limit.
///
/// A libguestfs call blocks until the appliance answers, and an appliance under TCG can hang
/// (seen: hours at full CPU, both in a read-only call and while booting). Killing its qemu makes
/// the blocked call return an error at once, so a caller that relaunches for the remaining disks
/// carries on. The limit restarts with every call; calls that move data grant themselves more time.
///
/// The checks run on a thread of their own: a timer on a shared queue can starve when that
/// queue's threads are the ones blocked in appliance calls.
final class CallWatchdog: @unchecked Sendable {
    /// How the appliance's qemu is found: by pid once launched; while launching (libguestfs
    /// does not tell the pid before the launch returns) by a tag on its kernel command line.
    enum Target {
        case none
        case launching(tag: String)
        case process(pid_t)
    }

    /// Seconds one call may take before the appliance is stopped.
    let limit: Double
    /// Seconds a launch may take (a healthy one takes 13-90 s under TCG).
    let launchLimit: Double
    private let lock = NSLock()
    private var target: Target = .none
    private var thread: Thread?
    /// The call in progress, when it started, and the extra time it was granted.
    private var current: (operation: String, start: ContinuousClock.Instant)?
    private var calls: [String] = []
    private var extraSeconds: Double = 0
    /// Set once the watchdog stopped the appliance: the call it gave up on and its allowance.
    private var expired: (operation: String, seconds: Double)?

    init(limit: Double, launchLimit: Double) {
        self.limit = limit
        self.launchLimit = launchLimit
    }

    deinit { disarm() }

    /// Starts watching a launch: its qemu is found by `tag` in its command line if it overruns.
    func watchLaunch(tag: String) {
        lock.withLock { target = .launching(tag: tag) }
        startThread()
    }

    /// Watches the appliance `pid` (after launch).
    func arm(processID pid: pid_t) {
        lock.withLock { target = pid > 0 ? .process(pid) : .none }
    }

    /// Stops watching (the appliance was shut down or closed).
    func disarm() {
        lock.withLock {
            target = .none
            thread?.cancel()
            thread = nil
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

    private func startThread() {
        lock.withLock {
            guard thread == nil else { return }
            let interval = max(0.2, min(min(limit, launchLimit) / 4, 5))
            let watcher = Thread { [weak self] in
                while !Thread.current.isCancelled {
                    Thread.sleep(forTimeInterval: interval)
                    guard let self, !Thread.current.isCancelled else { return }
                    if self.check() { return }
                }
            }
            watcher.name = "lcm-guestfs-watchdog"
            thread = watcher
            watcher.start()
        }
    }

    /// Kills the appliance if the call in progress overran; true once there is nothing left to watch.
    private func check() -> Bool {
        lock.withLock {
            guard expired == nil else { return true }
            guard let current else { return false }
            let processID: pid_t?
            let allowed: Double
            switch target {
            case .none:
                return false
            case .launching(let tag):
                allowed = launchLimit
                processID = nil
                guard (ContinuousClock.now - current.start) > .milliseconds(Int64(allowed * 1000)) else { return false }
                let found = Self.processes(withArgumentContaining: tag)
                guard !found.isEmpty else { return false }
                for pid in found { kill(pid, SIGKILL) }
            case .process(let pid):
                allowed = limit + extraSeconds
                processID = pid
                guard (ContinuousClock.now - current.start) > .milliseconds(Int64(allowed * 1000)) else { return false }
            }
            expired = (current.operation, allowed)
            if let processID { kill(processID, SIGKILL) }
            return true
        }
    }

    /// Processes with an argument containing `text` (a tag unique to one session).
    static func processes(withArgumentContaining text: String) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { return nil }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.contains { $0.contains(text) } ? pid : nil
        }
    }
}
