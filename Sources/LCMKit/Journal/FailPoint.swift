import Foundation

/// Crash injection for tests: armed with `kind:step:moment`, the process SIGKILLs itself at that
/// point of a journaled operation (moment: started, ran, recorded). The command layer arms it from
/// `LCM_FAILPOINT`; a context built without one (every normal run, in-process tests) never fires.
public struct FailPoints: Sendable {
    public enum Moment: String, Sendable { case started, ran, recorded }

    /// Fires nowhere.
    public static let none = FailPoints(armed: nil)

    private let armed: String?

    public init(armed spec: String?) {
        armed = spec.flatMap { $0.isEmpty ? nil : $0 }
    }

    public var isArmed: Bool { armed != nil }

    func hit(kind: String, step: String, moment: Moment) {
        guard let armed, armed == "\(kind):\(step):\(moment.rawValue)" else { return }
        kill(getpid(), SIGKILL)
    }
}
