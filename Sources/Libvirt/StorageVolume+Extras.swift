import CLibvirt
import Foundation

extension StorageVolume {
    /// The pool holding this volume (`virStoragePoolLookupByVolume`).
    public func pool() throws -> StoragePool {
        guard let pool = virStoragePoolLookupByVolume(pointer) else {
            throw connection.error("virStoragePoolLookupByVolume")
        }
        return StoragePool(pool, connection: connection)
    }

    /// The volume's host file size in bytes (`virStorageVolGetInfoFlags` with
    /// `VIR_STORAGE_VOL_GET_PHYSICAL`): for a qcow2 file its length on disk, not its virtual size.
    public func physicalSize() throws -> UInt64 {
        var info = virStorageVolInfo()
        guard virStorageVolGetInfoFlags(pointer, &info, VIR_STORAGE_VOL_GET_PHYSICAL.rawValue) >= 0 else {
            throw connection.error("virStorageVolGetInfoFlags")
        }
        return UInt64(info.allocation)
    }

    /// Streams the volume's bytes from `offset` (`length` bytes, or to the end when 0) to
    /// `consume`, chunk by chunk, without writing a file (e.g. to hash what the far side holds).
    /// Returns the bytes received.
    @discardableResult
    public func download(
        offset: UInt64 = 0, length: UInt64 = 0, consume: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> UInt64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        let stream = try Stream(connection: connection)
        do {
            guard virStorageVolDownload(pointer, stream.pointer, offset, length, 0) >= 0 else {
                throw connection.error("virStorageVolDownload")
            }
            stream.markActive()
            var received: UInt64 = 0
            while let count = try stream.receive(into: buffer), count > 0 {
                try consume(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                received += UInt64(count)
            }
            try stream.finish()
            return received
        } catch {
            stream.abortQuietly()
            throw error
        }
    }
}

extension Connection {
    /// The volume whose path (on the host where libvirt runs) is `path`, in any pool; nil when
    /// no pool holds it.
    public func lookupStorageVolume(path: String) throws -> StorageVolume? {
        try lookup("virStorageVolLookupByPath") { virStorageVolLookupByPath(pointer, path) }
            .map { StorageVolume($0, connection: self) }
    }
}
