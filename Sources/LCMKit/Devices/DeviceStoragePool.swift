import Foundation
import Libvirt

/// lcm's storage pool on a device: a libvirt directory pool named "lcm" where golden versions,
/// OS layers and user-data disks live. Always reached through libvirt (volumes and streams),
/// never through a local path, so a remote device works the same as the local one.
public enum DeviceStoragePool {
    public static let name = "lcm"

    /// Where the pool's directory is created on the device when lcm defines it.
    public static func defaultTargetPath(uri: String) -> String {
        if uri.contains("/session"), geteuid() != 0 {
            return URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".local/share/libvirt/images/lcm").path
        }
        return "/var/lib/libvirt/images/lcm"
    }

    /// Returns the active pool, defining, building and starting it if needed. `created` says whether
    /// this call made it.
    public static func ensure(on connection: Connection) throws -> (pool: StoragePool, created: Bool) {
        if let pool = try connection.lookupStoragePool(name: name) {
            if try !pool.isActive { try pool.create() }
            return (pool, false)
        }
        let path = defaultTargetPath(uri: try connection.uri)
        let pool = try connection.defineStoragePool(xml: StoragePoolDefinition(name: name, targetPath: path, mode: "0711").xml)
        do {
            try pool.build()
            try pool.create()
            try pool.setAutostart(true)
        } catch {
            try? pool.undefine()
            throw error
        }
        return (pool, true)
    }

    /// The pool of that name on the device, running: lcm's own is made when missing; any other
    /// must have been defined by the admin (it is started if it is stopped).
    public static func open(named poolName: String, on connection: Connection) throws -> StoragePool {
        if poolName == name { return try ensure(on: connection).pool }
        guard let pool = try connection.lookupStoragePool(name: poolName) else {
            throw LCMError.notFound("storage pool '\(poolName)' on \((try? connection.uri) ?? "the device")",
                                    hint: "define it on the device (virsh pool-define-as), or leave out --pool to use lcm's own pool")
        }
        if try !pool.isActive { try pool.create() }
        return pool
    }
}
