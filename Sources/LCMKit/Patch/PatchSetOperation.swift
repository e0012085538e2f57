import Foundation
import Guestfs

/// A patch set as one offline operation over an `OfflineDisk`: refuses a volume that cannot take
/// it (hibernated or Fast Startup, too little room for the staged files), writes the .reg files
/// and the boot runner's registration in the disk's one registry pass and reads them back, then
/// stages the other files in the boot-time queue with the runner installed.
final class PatchSetOperation: OfflineOperation {
    let patch: PatchSet
    private(set) var outcome = OfflinePatchOutcome(registry: .init(), queued: [], runner: nil, freeBytesBefore: 0)
    private var expected: [RegFile.Hive: RegistryPatch.ExpectedState] = [:]

    init(_ patch: PatchSet) { self.patch = patch }

    func verify(on disk: OfflineDisk) throws {
        let g = disk.session, name = disk.name
        // What ntfs-3g's own check reads (a program run, seconds under TCG): hiberfil.sys's first
        // bytes. Windows would discard offline changes when it resumes such a session.
        let hibernation = HibernationState(hiberfilSignature: try WindowsInspector.signature(g, path: "/hiberfil.sys"))
        guard !hibernation.hibernated else {
            throw LCMError(.conflict, "the Windows volume of \(name) is hibernated or was shut down with Fast Startup; it cannot be patched offline",
                           hint: "boot it and shut it down fully (shutdown /s /t 0), or disable Fast Startup, then patch again")
        }
        let free = try g.statvfs("/").availableBytes
        let needed = patch.stagedBytes + OfflinePatcher.spareBytes
        guard free >= needed else {
            throw LCMError(.cannotWrite, "the Windows volume of \(name) has \(ByteSize.format(UInt64(max(0, free)))) free; the patch needs \(ByteSize.format(UInt64(needed)))",
                           hint: "free space inside the desktop (or grow its disk), then patch again")
        }
        outcome.freeBytesBefore = free
    }

    var hives: Set<RegFile.Hive> { patch.staged.isEmpty ? patch.registry.hives : patch.registry.hives.union([.software]) }

    func edit(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        expected = try patch.registry.edit(editors, outcome: &outcome.registry)
        if !patch.staged.isEmpty, let software = editors.software {
            try StartupScriptRunner.registerState(software, systemRoot: disk.layout.systemRoot)
        }
    }

    func check(_ editors: OfflineHives.Editors, on disk: OfflineDisk) throws {
        outcome.registry.checked += try RegistryPatch.check(expected, editors)
    }

    func apply(to disk: OfflineDisk) throws {
        guard !patch.staged.isEmpty else { return }
        outcome.queued = try BootRunnerContract.enqueue(patch.staged, on: disk.session).map(\.fileName)
        outcome.runner = try StartupScriptRunner.installFiles(disk.session, systemRoot: disk.layout.systemRoot)
    }
}
