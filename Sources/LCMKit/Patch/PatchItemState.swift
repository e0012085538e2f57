/// Where one patch item is.
public enum PatchItemState: String, Codable, Sendable, CaseIterable {
    /// Waiting for its desktop to stop (it was running).
    case queued
    /// In the image's boot queue; the guest has not run it yet.
    case staged
    /// Applied offline and read back (.reg), or run by the guest with exit code 0.
    case succeeded
    /// Run by the guest with exit code 3010/1641: installed once Windows restarts.
    case rebootPending = "reboot-pending"
    /// Run by the guest with another exit code, or could not be applied.
    case failed
    /// Never run: its desktop was retired first.
    case dropped
    /// Its OS layer was rolled back (`lcm manage rollback`): whatever it did is gone with the layer.
    case rolledBack = "rolled-back"
}
