import Foundation

/// Something a run leaves behind while it works: a helper process, a unix socket, a temporary
/// file or directory. Recorded in the journal before it exists, cleaned up by whoever finishes.
public struct LeftoverResource: Sendable, Equatable {
    public enum Kind: String, Sendable { case process, file, directory }
    public var kind: Kind
    public var value: String
    /// For processes: the kernel's start time of the pid, so a recycled pid is never killed.
    public var processStartTime: Int64?

    public init(kind: Kind, value: String, processStartTime: Int64? = nil) {
        self.kind = kind; self.value = value; self.processStartTime = processStartTime
    }

    public static func process(_ pid: Int32) -> LeftoverResource {
        LeftoverResource(kind: .process, value: String(pid), processStartTime: ProcessInfoReader.startTime(of: pid))
    }
    public static func file(_ path: String) -> LeftoverResource { LeftoverResource(kind: .file, value: path) }
    public static func directory(_ path: String) -> LeftoverResource { LeftoverResource(kind: .directory, value: path) }

    /// Removes the resource if it is still there. Safe to call twice.
    public func cleanUp() {
        switch kind {
        case .process:
            guard let pid = Int32(value), pid > 1,
                  let start = ProcessInfoReader.startTime(of: pid), start == processStartTime else { return }
            kill(pid, SIGKILL)
            // Reap it if it is our child; otherwise wait briefly for init to do so.
            var status: Int32 = 0
            for _ in 0..<200 {
                if waitpid(pid, &status, WNOHANG) == pid { break }
                if ProcessInfoReader.startTime(of: pid) != start { break }
                usleep(10_000)
            }
        case .file:
            unlink(value)
        case .directory:
            try? FileManager.default.removeItem(atPath: value)
        }
    }
}

/// Reads process facts from /proc.
public enum ProcessInfoReader {
    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot); nil if the process is gone
    /// or is a zombie.
    public static func startTime(of pid: Int32) -> Int64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may contain spaces) start at field 3 (state).
        let fields = stat[stat.index(after: closing)...].split(separator: " ")
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return Int64(fields[19])
    }
}
