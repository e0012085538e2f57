import Foundation

/// Crash injection for tests: `LCM_FAILPOINT=kind:step:moment` makes the process SIGKILL itself
/// at that point of a journaled operation (moment: started, ran, recorded). Unset in normal use.
enum FailPoint {
    enum Moment: String { case started, ran, recorded }

    static func hit(kind: String, step: String, moment: Moment) {
        guard let spec = ProcessInfo.processInfo.environment["LCM_FAILPOINT"], !spec.isEmpty else { return }
        if spec == "\(kind):\(step):\(moment.rawValue)" {
            kill(getpid(), SIGKILL)
        }
    }
}
