import CLibvirt
import Foundation

/// `virStoragePoolState`.
public enum StoragePoolState: Sendable, Equatable {
    case inactive, building, running, degraded, inaccessible
    /// A state newer than this wrapper.
    case unknown(Int32)

    init(_ raw: Int32) {
        switch UInt32(bitPattern: raw) {
        case VIR_STORAGE_POOL_INACTIVE.rawValue: self = .inactive
        case VIR_STORAGE_POOL_BUILDING.rawValue: self = .building
        case VIR_STORAGE_POOL_RUNNING.rawValue: self = .running
        case VIR_STORAGE_POOL_DEGRADED.rawValue: self = .degraded
        case VIR_STORAGE_POOL_INACCESSIBLE.rawValue: self = .inaccessible
        default: self = .unknown(raw)
        }
    }
}

/// Size figures of a storage pool, in bytes.
public struct StoragePoolInfo: Sendable, Equatable {
    public var state: StoragePoolState
    public var capacity: UInt64
    public var allocation: UInt64
    public var available: UInt64
}

/// A libvirt storage pool (`virStoragePoolPtr`), freed on deinit.
public final class StoragePool: @unchecked Sendable {
    let pointer: virStoragePoolPtr
    public let connection: Connection

    init(_ pointer: virStoragePoolPtr, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virStoragePoolFree(pointer)
    }

    private func check(_ rc: Int32, _ function: String) throws {
        guard rc >= 0 else { throw connection.error(function) }
    }

    public var name: String {
        get throws {
            guard let name = virStoragePoolGetName(pointer) else { throw connection.error("virStoragePoolGetName") }
            return String(cString: name)
        }
    }

    public var isActive: Bool {
        get throws {
            let rc = virStoragePoolIsActive(pointer)
            try check(rc, "virStoragePoolIsActive")
            return rc == 1
        }
    }

    /// Prepares the backing storage (for a dir pool: creates the directory).
    public func build() throws {
        try check(virStoragePoolBuild(pointer, 0), "virStoragePoolBuild")
    }

    /// Starts (activates) the pool.
    public func create() throws {
        try check(virStoragePoolCreate(pointer, 0), "virStoragePoolCreate")
    }

    /// Stops the pool; its volumes and their data stay.
    public func destroy() throws {
        try check(virStoragePoolDestroy(pointer), "virStoragePoolDestroy")
    }

    /// Removes the pool's backing storage (for a dir pool: the now-empty directory).
    /// The pool must be inactive.
    public func delete() throws {
        try check(virStoragePoolDelete(pointer, 0), "virStoragePoolDelete")
    }

    /// Removes the persistent definition of an inactive pool.
    public func undefine() throws {
        try check(virStoragePoolUndefine(pointer), "virStoragePoolUndefine")
    }

    public func setAutostart(_ autostart: Bool) throws {
        try check(virStoragePoolSetAutostart(pointer, autostart ? 1 : 0), "virStoragePoolSetAutostart")
    }

    /// Rescans the pool so volumes created behind libvirt's back show up.
    public func refresh() throws {
        try check(virStoragePoolRefresh(pointer, 0), "virStoragePoolRefresh")
    }

    public func info() throws -> StoragePoolInfo {
        var info = virStoragePoolInfo()
        try check(virStoragePoolGetInfo(pointer, &info), "virStoragePoolGetInfo")
        return StoragePoolInfo(
            state: StoragePoolState(info.state), capacity: UInt64(info.capacity),
            allocation: UInt64(info.allocation), available: UInt64(info.available))
    }

    public func xmlDescription() throws -> String {
        guard let xml = takeString(virStoragePoolGetXMLDesc(pointer, 0)) else {
            throw connection.error("virStoragePoolGetXMLDesc")
        }
        return xml
    }

    /// Creates a volume from its XML (format, capacity, optional `<backingStore>`).
    public func createVolume(xml: String) throws -> StorageVolume {
        guard let volume = virStorageVolCreateXML(pointer, xml, 0) else {
            throw connection.error("virStorageVolCreateXML")
        }
        return StorageVolume(volume, connection: connection)
    }

    /// The volume called `name` in this pool, or nil if there is none.
    public func lookupVolume(name: String) throws -> StorageVolume? {
        try connection.lookup("virStorageVolLookupByName") { virStorageVolLookupByName(pointer, name) }
            .map { StorageVolume($0, connection: connection) }
    }

    public func listAllVolumes() throws -> [StorageVolume] {
        var array: UnsafeMutablePointer<virStorageVolPtr?>?
        let count = virStoragePoolListAllVolumes(pointer, &array, 0)
        guard count >= 0 else { throw connection.error("virStoragePoolListAllVolumes") }
        return takeArray(array, count: count) { StorageVolume($0, connection: connection) }
    }
}
