import Foundation
import GRDB
import Libvirt

/// Deletes a desktop's volume so that the key copy its LUKS header holds goes with it, on record.
///
/// The keyslots of an encrypted volume wrap its master key under the desktop's passphrase and are
/// registered as a copy of the key (`KeyCopyLocation.luksKeyslots`). Unlinking the file leaves
/// them in the host's free space while the registry still calls them live, so a later retirement
/// can neither destroy nor prove them gone and certifies nothing. So every place lcm deletes a
/// volume before retirement (a rolled-back or unfinished layer, `deploy --undo`, a deploy rerun)
/// overwrites the LUKS header with AES-256-CTR output and reads it back first, as retirement's
/// crypto-erase does, marks the copy destroyed saying how and why, and only then deletes the file.
enum VolumeDeletion {
    /// Deletes `volume` (`name` in `pool`), erasing its LUKS header first when a live keyslot copy
    /// is registered for it; `why` is recorded with the copy ("rolled back", "deploy --undo").
    /// A volume with no registered keyslots (plain, or the golden base) is just deleted. A header
    /// that does not read back as written keeps the volume and throws: the next run tries again.
    static func delete(_ volume: StorageVolume, name: String, pool: String, why: String, inventory: Inventory) throws {
        let uri = try volume.connection.uri
        let copies = try inventory.read { db in
            try KeyCopyRegistry.liveKeyslots(db, hostURI: uri, pool: pool, volume: name)
        }
        if !copies.isEmpty {
            let how = try eraseKeyslots(volume, name: name)
            try inventory.write { db in
                for copy in copies {
                    try KeyCopyRegistry.markDestroyed(db, copyID: copy.id, how: "\(how), before the volume was deleted (\(why))")
                }
            }
        }
        try volume.delete()
    }

    /// Overwrites the LUKS header (every keyslot) through a libvirt stream, which works on remote
    /// hosts too, and reads it back. A file whose qcow2 header names no LUKS header (an upload cut
    /// short) is overwritten whole with zeros instead. Returns how the copy was destroyed.
    static func eraseKeyslots(_ volume: StorageVolume, name: String) throws -> String {
        let target = try StreamWipeTarget(volume: volume)
        let headBytes = Int(min(UInt64(QcowLUKSHeader.bytesToRead), target.size))
        var head = [UInt8](repeating: 0, count: headBytes)
        try head.withUnsafeMutableBytes { try target.read(into: $0, at: 0) }
        guard let header = try? QcowLUKSHeader.locate(in: head) else {
            _ = try Overwriter.overwrite(target, with: .constant(0))
            let check = try Overwriter.verify(target, against: .constant(0))
            guard check.passed else { throw unreadable(name, check) }
            return "the volume named no LUKS header: overwritten whole with zeros and read back"
        }
        let range = header.offset..<min(header.offset + header.length, target.size)
        let pattern = OverwritePattern.freshRandom()
        _ = try Overwriter.overwrite(target, with: pattern, range: range)
        let check = try Overwriter.verify(target, against: pattern, range: range)
        guard check.passed else { throw unreadable(name, check) }
        return "LUKS header (every keyslot) overwritten with AES-256-CTR output and read back"
    }

    private static func unreadable(_ name: String, _ check: Overwriter.VerifyResult) -> LCMError {
        // The device's storage did not keep what was written: not a bug in lcm (exit 1), a storage fault.
        LCMError(.cannotWrite, "the keyslots of \(name) did not read back as written (first difference at byte \(check.firstMismatch ?? 0)): the volume is kept",
                 hint: "check the device's storage; the next run on the desktop tries again")
    }
}
