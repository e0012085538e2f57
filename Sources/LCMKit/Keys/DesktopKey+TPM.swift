import Foundation
import Libvirt

/// The desktop key as the key of the desktop's vTPM state.
///
/// swtpm keeps a TPM's state (its endorsement seed, and the BitLocker or Windows Hello keys sealed
/// to it) in files on the device; with `<encryption secret=.../>` in the domain's `<tpm>` it keeps
/// them encrypted under a libvirt secret of usage type vtpm. Using the desktop key there too means
/// destroying that one key (`DesktopKey.destroyAll`, which undefines every registered secret by
/// UUID) makes the TPM state unreadable along with the disks.
extension DesktopKey {
    /// The vTPM secret's usage name on a device: unique per key, and apart from the volume secret's
    /// (no '/', which libvirt's schema does not allow in a name).
    public static func tpmSecretUsageName(_ keyID: String) -> String { "lcm-desktop-tpm-\(keyID)" }

    /// The usage name earlier versions gave a key's vTPM secret: still found on devices.
    static func legacyTPMSecretUsageName(_ keyID: String) -> String { "lcm-desktop-tpm/\(keyID)" }

    /// Defines the key as a private, persistent libvirt secret of usage type vtpm on a device
    /// (idempotent: an existing one gets its value set again) and returns its UUID, for
    /// `DesktopDomain.TPM(encryptionSecretUUID:)`. The secret and libvirtd's file behind it are
    /// registered as copies of the key before either exists. The value goes to libvirt through the
    /// API only: never an argument, a log line or a file lcm writes.
    @discardableResult
    public func installTPMSecret(on connection: Connection, inventory: Inventory,
                                 passphrase known: DiskPassphrase? = nil) throws -> String {
        let usage = Self.tpmSecretUsageName(id)
        return try installLibvirtSecret(on: connection, inventory: inventory, passphrase: known, usageType: .vtpm, usage: usage,
                                        legacyUsage: Self.legacyTPMSecretUsageName(id), secretUsage: .vtpm(usage),
                                        purpose: "vTPM key")
    }
}
