import CProcess
import Foundation

/// Keeps key material in lcm's memory out of core files and away from other processes: the
/// process is made non-dumpable (no core file; `/proc/PID/mem` and ptrace only for a holder of
/// CAP_SYS_PTRACE) and its core size limit set to 0 (inherited by the helpers it starts). Done at
/// the start of every command, and again wherever the master key is loaded, for library callers.
public enum ProcessHardening {
    /// Applies both settings (idempotent) and says whether they are in force, read back.
    @discardableResult
    public static func forSecrets() -> Bool {
        _ = lcm_set_dumpable(0)
        _ = lcm_set_core_limit_zero()
        return isInForce
    }

    /// Whether this process is non-dumpable with a core size limit of 0.
    public static var isInForce: Bool {
        lcm_get_dumpable() == 0 && lcm_core_limit_is_zero() == 1
    }
}
