import Foundation

/// Everything a desktop's deployment decided, stored with the desktop (no secrets) so a rerun
/// resumes with the same choices. Stored as JSON in `desktop.settings`; the keys and the string
/// values of the enums are those of every lcm since v5-deploy, so old rows still decode.
public struct DesktopSettings: Codable, Sendable, Equatable {
    public var imageReference: String
    public var imageVersionID: Int64
    public var imagePath: String
    public var imageSHA256: String
    public var uri: String
    public var deviceTag: String
    public var user: String?
    public var vcpus: Int
    public var memoryBytes: UInt64
    public var osDiskBytes: UInt64
    public var dataDiskBytes: UInt64
    public var encrypted: Bool
    public var allowUngeneralized: Bool
    public var generalized: Bool
    /// virtio, or SATA for an image without virtio storage drivers.
    public var storageBus: DesktopDomain.DiskBus
    /// virtio, or e1000e for an image without the virtio network driver.
    public var networkModel: DesktopDomain.NetworkModel
    public var network: String
    public var computerName: String
    public var owner: String
    public var organization: String?
    public var timeZone: String
    public var licensePool: String?
    public var migrateArchive: String?
    public var architecture: String
    public var discard: Bool
    public var joinBlobBytes: Int?
    public var start: Bool
    public var domainType: DesktopDomain.DomainType
    /// The device's storage pool when not lcm's own (absent in settings stored before it existed).
    public var storagePool: String?
    /// Whether the domain boots with Secure Boot and Microsoft's keys enrolled. Absent in settings
    /// stored before it existed: those desktops were defined without it.
    public var secureBoot: Bool?

    public var pool: String { storagePool ?? DeviceStoragePool.name }
    public var usesSecureBoot: Bool { secureBoot ?? false }

    /// What a rerun asks differently from these (stored) settings, as "what: stored -> asked";
    /// only what the admin chooses (names, user, sizes, placement), not what lcm derives.
    func askedDifferently(from asked: DesktopSettings) -> [String] {
        var changes: [String] = []
        func compare<T: Equatable>(_ what: String, _ stored: T, _ new: T, _ show: (T) -> String) {
            if stored != new { changes.append("\(what): \(show(stored)) -> \(show(new))") }
        }
        let text: (String?) -> String = { $0 ?? "none" }
        let size: (UInt64) -> String = { ByteSize.format($0) }
        compare("user", user, asked.user, text)
        compare("computer name", computerName, asked.computerName) { $0 }
        compare("time zone", timeZone, asked.timeZone) { $0 }
        compare("organization", organization, asked.organization, text)
        compare("license pool", licensePool, asked.licensePool, text)
        compare("user-data archive", migrateArchive, asked.migrateArchive, text)
        compare("network", network, asked.network) { $0 }
        compare("storage pool", pool, asked.pool) { $0 }
        compare("encryption", encrypted, asked.encrypted) { $0 ? "on" : "off" }
        compare("Secure Boot", usesSecureBoot, asked.usesSecureBoot) { $0 ? "on" : "off" }
        compare("vCPUs", vcpus, asked.vcpus) { String($0) }
        compare("memory", memoryBytes, asked.memoryBytes, size)
        compare("OS disk", osDiskBytes, asked.osDiskBytes, size)
        compare("data disk", dataDiskBytes, asked.dataDiskBytes, size)
        return changes
    }

    /// Volume names in the device's pool (the desktop name is validated to be safe for them).
    public static func osVolume(_ desktop: String) -> String { "\(desktop)-os.qcow2" }
    public static func dataVolume(_ desktop: String) -> String { "\(desktop)-data.qcow2" }

    // MARK: Storage

    /// The JSON stored in `desktop.settings`: keys sorted, so equal settings store equal text.
    public func storedJSON() throws -> String {
        String(decoding: try JSONEncoder.sorted.encode(self), as: UTF8.self)
    }

    /// Reads the JSON stored in `desktop.settings`: the one place it is decoded. Unreadable text is
    /// a damaged inventory, said as such, never taken for "no settings".
    public static func decode(stored json: String, desktop: String) throws -> DesktopSettings {
        do {
            return try JSONDecoder().decode(DesktopSettings.self, from: Data(json.utf8))
        } catch {
            throw LCMError(.databaseError, "the stored deployment settings of desktop \(desktop) are unreadable: \(Self.reason(error))",
                           hint: "restore the inventory from a backup, or remove the desktop with `lcm deploy --undo \(desktop)`")
        }
    }

    /// What is wrong with the JSON, in words (DecodingError's own description is a debug dump).
    private static func reason(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "\"\(key.stringValue)\" is missing"
        case .valueNotFound(_, let context)?: return "\"\(path(context))\" is null"
        case .typeMismatch(_, let context)?, .dataCorrupted(let context)?:
            let at = path(context)
            return at.isEmpty ? context.debugDescription : "\"\(at)\": \(context.debugDescription)"
        default: return "\(error)"
        }
    }
}

// Stored as their raw values, the strings settings always held.
extension DesktopDomain.DiskBus: Codable {}
extension DesktopDomain.NetworkModel: Codable {}
extension DesktopDomain.DomainType: Codable {}
