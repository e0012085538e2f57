import Foundation
import Guestfs

/// What one patch set did to one disk.
public struct OfflinePatchOutcome: Codable, Sendable, Equatable {
    public var registry: RegistryPatch.Outcome
    /// Queue file names of the staged items, in run order.
    public var queued: [String]
    /// The boot-time runner's registration (nil when nothing was staged).
    public var runner: StartupScriptRunner.Registration?
    /// Free bytes on the Windows volume before the patch.
    public var freeBytesBefore: Int64
}

/// Applies a `PatchSet` to one Windows disk in a launched appliance: .reg files into the offline
/// hives (read back), the other files into the boot-time queue with the runner registered.
/// Checks first and refuses, changing nothing, a disk that cannot take the patch: no Windows,
/// a hibernated or Fast Startup volume (ntfs-3g would refuse it, or Windows would discard the
/// changes on resume), or too little free space for the staged files.
public enum OfflinePatcher {
    /// Room kept free on the Windows volume beyond the staged files: the hives grow, the runner
    /// writes its log, and Windows needs space to install what was staged.
    public static let spareBytes: Int64 = 64 << 20

    public static func apply(_ set: PatchSet, to access: DiskAccess) throws -> OfflinePatchOutcome {
        // Each disk on its own facts: a desktop's layer has moved on from its golden image.
        let operation = PatchSetOperation(set)
        try OfflineDisk.run([operation], on: access, golden: GoldenFacts(), hibernation: .byOperations)
        return operation.outcome
    }
}
