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
        let g = access.session
        let partition = try OfflineDisk.windowsPartition(access)
        try g.mount(partition, options: "big_writes")
        defer { try? g.umountAll() }
        // What ntfs-3g's own check reads (a program run, seconds under TCG): hiberfil.sys's first
        // bytes. Windows would discard offline changes when it resumes such a session.
        let hibernation = HibernationState(hiberfilSignature: try WindowsInspector.signature(g, path: "/hiberfil.sys"))
        guard !hibernation.hibernated else {
            throw LCMError(.conflict, "the Windows volume of \(access.volume.name) is hibernated or was shut down with Fast Startup; it cannot be patched offline",
                           hint: "boot it and shut it down fully (shutdown /s /t 0), or disable Fast Startup, then patch again")
        }
        let layout = try GoldenFacts.Layout.read(g, device: access.device, partition: partition, volume: access.volume.name)
        let usage = try g.statvfs("/")
        let free = usage.availableBytes
        let needed = set.stagedBytes + spareBytes
        guard free >= needed else {
            throw LCMError(.cannotWrite, "the Windows volume of \(access.volume.name) has \(ByteSize.format(UInt64(max(0, free)))) free; the patch needs \(ByteSize.format(UInt64(needed)))",
                           hint: "free space inside the desktop (or grow its disk), then patch again")
        }
        var outcome = OfflinePatchOutcome(registry: .init(), queued: [], runner: nil, freeBytesBefore: free)
        if !set.staged.isEmpty {
            outcome.queued = try BootRunnerContract.enqueue(set.staged, on: g).map(\.fileName)
            outcome.runner = try StartupScriptRunner.installFiles(g, systemRoot: layout.systemRoot)
        }
        // The .reg files and the runner's registry state in one pass over the hives.
        let systemRoot = layout.systemRoot
        outcome.registry = try set.registry.apply(g, systemHive: layout.systemHive, softwareHive: layout.softwareHive,
                                                  alsoInSoftware: set.staged.isEmpty ? nil : { software in
                                                      try StartupScriptRunner.registerState(software, systemRoot: systemRoot)
                                                  })
        try g.umountAll()
        return outcome
    }
}
