import Foundation

/// An advisory lock on a file (flock). The kernel drops it when the holder dies, even by SIGKILL,
/// so a lock can never outlive a crashed run: that is what makes "owner is gone" detectable.
public final class FileLock: @unchecked Sendable {
    public let path: String
    private var descriptor: Int32 = -1
    /// Whether this object holds the lock now (not merely has the file open).
    public private(set) var isHeld = false

    public init(path: String) { self.path = path }
    deinit { unlock() }

    /// Tries to take the lock exclusively; waits up to `timeout` seconds (0 = try once).
    /// Returns false when another process still holds it after the wait.
    public func lock(timeout: Double) throws -> Bool {
        if descriptor < 0 {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw LCMError(.cannotWrite, "cannot open lock file \(path): \(String(cString: strerror(errno)))",
                               hint: "check the permissions of lcm's home")
            }
            descriptor = fd
        }
        let deadline = Date().addingTimeInterval(timeout)
        var delay: UInt32 = 2_000
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                // Record the holder for "busy" messages; advisory only.
                let text = "\(getpid())\n"
                _ = ftruncate(descriptor, 0)
                _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
                isHeld = true
                return true
            }
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw LCMError(.cannotWrite, "cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            if Date() >= deadline { return false }
            usleep(delay)
            delay = min(delay * 2, 100_000)
        }
    }

    /// The pid written by the current holder, if readable.
    public var holderPID: Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func unlock() {
        guard descriptor >= 0 else { return }
        isHeld = false
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }
}

/// Per-object locks under `$LCM_HOME/locks`, so two lcm runs never change the same desktop,
/// device or image at once while runs on different objects proceed in parallel.
public enum ObjectLock {
    public static func path(home: LCMHome, kind: String, id: String) -> String {
        let safe = id.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }
        // A hash keeps distinct ids that sanitize alike apart.
        return home.locksURL.appendingPathComponent("\(kind)-\(String(safe))-\(stableHash(id)).lock").path
    }

    /// Takes the lock or throws `busy` naming the holder.
    public static func acquire(home: LCMHome, kind: String, id: String, timeout: Double) throws -> FileLock {
        let lock = FileLock(path: path(home: home, kind: kind, id: id))
        guard try lock.lock(timeout: timeout) else {
            let holder = lock.holderPID.map { " (pid \($0))" } ?? ""
            throw LCMError(.busy, "\(kind) \(id) is locked by another lcm run\(holder)",
                           hint: "wait for it to finish and retry")
        }
        return lock
    }

    /// For a step that runs inside a longer span holding the same object's lock (a deploy holds
    /// each desktop from its first look at the row to its last write): a second flock by this
    /// process would wait on itself. Returns nil when `held` is that lock, else the lock taken now.
    public static func acquire(unlessHeld held: FileLock?, home: LCMHome, kind: String, id: String, timeout: Double) throws -> FileLock? {
        if let held, held.isHeld, held.path == path(home: home, kind: kind, id: id) { return nil }
        return try acquire(home: home, kind: kind, id: id, timeout: timeout)
    }

    static func stableHash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 // FNV-1a, stable across runs unlike Hasher
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash & 0xffff_ffff, radix: 16)
    }
}
