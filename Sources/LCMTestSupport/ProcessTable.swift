import Foundation

/// Live processes, read from /proc: tests look for leftovers (an appliance qemu, qemu-nbd) of a
/// killed run by a path they must mention.
public enum ProcessTable {
    /// Processes other than this one whose command line mentions `fragment`; zombies are skipped
    /// (they hold nothing and vanish when reaped).
    public static func processes(mentioning fragment: String) -> [(pid: Int32, command: String)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> (Int32, String)? in
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), !data.isEmpty else { return nil }
            let command = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            guard command.contains(fragment), !isZombie(pid) else { return nil }
            return (pid, command)
        }
    }

    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
