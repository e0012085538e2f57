import CLibvirt
import Foundation

/// What a secret is for (`virSecretUsageType`); with the usage ID it names the secret.
public enum SecretUsageType: Int32, Sendable {
    case none = 0
    /// Disk encryption; the usage ID is the volume path.
    case volume = 1
    case ceph = 2
    case iscsi = 3
    case tls = 4
    /// Encrypted swtpm state; the usage ID is a free-form name.
    case vtpm = 5
}

/// A libvirt secret (`virSecretPtr`), for example a volume passphrase or a vTPM state key.
/// Freed on deinit.
public final class Secret: @unchecked Sendable {
    let pointer: virSecretPtr
    public let connection: Connection

    init(_ pointer: virSecretPtr, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virSecretFree(pointer)
    }

    public var uuidString: String {
        get throws {
            guard let uuid = readUUIDString({ virSecretGetUUIDString(pointer, $0) }) else {
                throw connection.error("virSecretGetUUIDString")
            }
            return uuid
        }
    }

    /// The usage type, or nil for a value newer than this wrapper.
    public var usageType: SecretUsageType? {
        get throws {
            let rc = virSecretGetUsageType(pointer)
            guard rc >= 0 else { throw connection.error("virSecretGetUsageType") }
            return SecretUsageType(rawValue: rc)
        }
    }

    /// The usage ID (volume path, vTPM name, ...); nil for usage type none.
    public var usageID: String? {
        // NULL is legitimate for usage "none", so it is not treated as an error.
        virSecretGetUsageID(pointer).map { String(cString: $0) }
    }

    public func xmlDescription() throws -> String {
        guard let xml = takeString(virSecretGetXMLDesc(pointer, 0)) else {
            throw connection.error("virSecretGetXMLDesc")
        }
        return xml
    }

    public func setValue(_ value: [UInt8]) throws {
        let rc = value.withUnsafeBufferPointer { buffer in
            virSecretSetValue(pointer, buffer.baseAddress, buffer.count, 0)
        }
        guard rc == 0 else { throw connection.error("virSecretSetValue") }
    }

    /// The secret's value; callers must never log or persist it. libvirt refuses this
    /// for secrets defined with `private='yes'`.
    public func value() throws -> [UInt8] {
        var size = 0
        guard let bytes = virSecretGetValue(pointer, &size, 0) else {
            throw connection.error("virSecretGetValue")
        }
        // Wipe libvirt's copy before freeing it.
        defer {
            memset(bytes, 0, size)
            free(bytes)
        }
        return Array(UnsafeBufferPointer(start: bytes, count: size))
    }

    public func undefine() throws {
        guard virSecretUndefine(pointer) == 0 else { throw connection.error("virSecretUndefine") }
    }
}
