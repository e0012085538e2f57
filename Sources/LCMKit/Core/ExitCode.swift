/// The exit codes lcm uses everywhere. Scripts and cron jobs rely on them, so values never change;
/// new meanings get new numbers. README.md and the man page carry the same table.
public enum LCMExitCode: Int32, CaseIterable, Sendable, Codable {
    case success = 0
    /// An unexpected failure inside lcm (a bug): report it.
    case failure = 1
    /// A batch where some items succeeded and others failed.
    case partialFailure = 2
    /// A check ran and did not pass (doctor, procure check, verification).
    case checkFailed = 3
    /// The object exists already, is in use, or its state forbids the change.
    case conflict = 4
    /// Bad command line (argument-parser's own code for usage errors).
    case usage = 64
    /// Bad input data: a file's content (CSV, profile, .reg) is malformed.
    case dataError = 65
    /// A named object or file does not exist.
    case notFound = 66
    /// libvirtd, libguestfs or an external tool failed or is unreachable.
    case unavailable = 69
    /// lcm's home or storage cannot be written (permissions, disk full).
    case cannotWrite = 73
    /// The inventory database is corrupt, foreign, or from a newer lcm.
    case databaseError = 74
    /// Another lcm run holds the lock on this object; retry later.
    case busy = 75
    /// Interrupted by a signal (SIGINT/SIGTERM); the journal lets the next run recover.
    case interrupted = 130

    /// One line for the documented table.
    public var meaning: String {
        switch self {
        case .success: "success"
        case .failure: "unexpected internal error (a bug: please report it)"
        case .partialFailure: "partial failure: some items of a batch failed, the others succeeded"
        case .checkFailed: "a check ran and did not pass (doctor, procure check, verification)"
        case .conflict: "conflict: the object already exists, is in use, or its state forbids the change"
        case .usage: "usage error: bad command line"
        case .dataError: "bad input data: a file's content is malformed"
        case .notFound: "not found: a named object or file does not exist"
        case .unavailable: "unavailable: libvirtd, libguestfs or an external tool failed or is unreachable"
        case .cannotWrite: "cannot write: lcm's home or storage is not writable or is full"
        case .databaseError: "database error: the inventory file is corrupt, foreign, or from a newer lcm"
        case .busy: "busy: another lcm run holds the lock; retry later"
        case .interrupted: "interrupted by a signal; the next run recovers"
        }
    }

    /// The table as plain text, for --help and the man page.
    public static var table: String {
        allCases.map { "  \(String($0.rawValue).padding(toLength: 4, withPad: " ", startingAt: 0)) \($0.meaning)" }
            .joined(separator: "\n")
    }
}
