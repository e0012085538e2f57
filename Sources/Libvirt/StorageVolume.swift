import CLibvirt
import Foundation

/// `virStorageVolType`.
public enum StorageVolumeType: Sendable, Equatable {
    case file, block, directory, network, networkDirectory, ploop
    /// A type newer than this wrapper.
    case unknown(Int32)

    init(_ raw: Int32) {
        switch UInt32(bitPattern: raw) {
        case VIR_STORAGE_VOL_FILE.rawValue: self = .file
        case VIR_STORAGE_VOL_BLOCK.rawValue: self = .block
        case VIR_STORAGE_VOL_DIR.rawValue: self = .directory
        case VIR_STORAGE_VOL_NETWORK.rawValue: self = .network
        case VIR_STORAGE_VOL_NETDIR.rawValue: self = .networkDirectory
        case VIR_STORAGE_VOL_PLOOP.rawValue: self = .ploop
        default: self = .unknown(raw)
        }
    }
}

/// Type and sizes of a volume, in bytes.
public struct StorageVolumeInfo: Sendable, Equatable {
    public var type: StorageVolumeType
    /// Size the guest sees.
    public var capacity: UInt64
    /// Space actually used on the host.
    public var allocation: UInt64
}

/// Options for `StorageVolume.resize(capacity:flags:)` (`virStorageVolResizeFlags`).
public struct StorageVolumeResizeFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Allocate the new space instead of leaving it sparse.
    public static let allocate = StorageVolumeResizeFlags(rawValue: VIR_STORAGE_VOL_RESIZE_ALLOCATE.rawValue)
    /// The capacity is added to the current size.
    public static let delta = StorageVolumeResizeFlags(rawValue: VIR_STORAGE_VOL_RESIZE_DELTA.rawValue)
    /// Allow shrinking, which can destroy data.
    public static let shrink = StorageVolumeResizeFlags(rawValue: VIR_STORAGE_VOL_RESIZE_SHRINK.rawValue)
}

/// A volume in a storage pool (`virStorageVolPtr`), freed on deinit.
///
/// Uploads and downloads go through libvirt streams, so they also work against a remote
/// host. Each transfer either finishes its stream or aborts it: a transfer only returns
/// normally once libvirt confirmed it complete.
public final class StorageVolume: @unchecked Sendable {
    let pointer: virStorageVolPtr
    public let connection: Connection

    /// Transfer chunk size: large enough to keep the RPC pipe busy, small enough to stay cheap.
    static let chunkSize = 2 * 1024 * 1024

    init(_ pointer: virStorageVolPtr, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
    }

    deinit {
        virStorageVolFree(pointer)
    }

    private func check(_ rc: Int32, _ function: String) throws {
        guard rc >= 0 else { throw connection.error(function) }
    }

    public var name: String {
        get throws {
            guard let name = virStorageVolGetName(pointer) else { throw connection.error("virStorageVolGetName") }
            return String(cString: name)
        }
    }

    /// Path on the host where libvirt runs (not necessarily this machine).
    public var path: String {
        get throws {
            guard let path = takeString(virStorageVolGetPath(pointer)) else {
                throw connection.error("virStorageVolGetPath")
            }
            return path
        }
    }

    /// Unique key (for file volumes, usually the path).
    public var key: String {
        get throws {
            guard let key = virStorageVolGetKey(pointer) else { throw connection.error("virStorageVolGetKey") }
            return String(cString: key)
        }
    }

    public func info() throws -> StorageVolumeInfo {
        var info = virStorageVolInfo()
        try check(virStorageVolGetInfo(pointer, &info), "virStorageVolGetInfo")
        return StorageVolumeInfo(
            type: StorageVolumeType(info.type), capacity: UInt64(info.capacity),
            allocation: UInt64(info.allocation))
    }

    public func xmlDescription() throws -> String {
        guard let xml = takeString(virStorageVolGetXMLDesc(pointer, 0)) else {
            throw connection.error("virStorageVolGetXMLDesc")
        }
        return xml
    }

    /// Deletes the volume and its data.
    public func delete() throws {
        try check(virStorageVolDelete(pointer, 0), "virStorageVolDelete")
    }

    /// Changes the capacity the guest sees, in bytes.
    public func resize(capacity: UInt64, flags: StorageVolumeResizeFlags = []) throws {
        try check(virStorageVolResize(pointer, capacity, flags.rawValue), "virStorageVolResize")
    }

    // MARK: Upload

    /// Writes a local file into the volume at `offset`: its first `length` bytes, or all of
    /// it when `length` is 0. Pipes and devices work too; with `length` 0 they are read to
    /// end of file. A source that ends before `length` bytes fails the transfer.
    /// `progress` gets the running byte count after each chunk. Returns the bytes sent.
    @discardableResult
    public func upload(
        from fileURL: URL, offset: UInt64 = 0, length: UInt64 = 0, progress: ((UInt64) -> Void)? = nil
    ) throws -> UInt64 {
        let function = "StorageVolume.upload"
        let path = fileURL.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LibvirtError.system("open \(path)", errno: errno, function: function) }
        defer { close(fd) }

        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw LibvirtError.system("stat \(path)", errno: errno, function: function)
        }
        // Only a regular file has a trustworthy size; anything else is read until EOF.
        var total = length
        if (status.st_mode & S_IFMT) == S_IFREG {
            let fileSize = UInt64(max(status.st_size, 0))
            if total == 0 { total = fileSize }
            guard total <= fileSize else {
                throw LibvirtError.system("\(path) is shorter than \(total) bytes", errno: EINVAL, function: function)
            }
        }

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        // Length 0 tells libvirt to accept data until the stream is finished.
        return try transferUp(offset: offset, length: total) { stream in
            var sent: UInt64 = 0
            while total == 0 || sent < total {
                let want = total == 0 ? Self.chunkSize : Int(min(UInt64(Self.chunkSize), total - sent))
                let got = read(fd, buffer.baseAddress, want)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw LibvirtError.system("read \(path)", errno: errno, function: function)
                }
                if got == 0 {
                    if total == 0 { break }
                    throw LibvirtError.system(
                        "\(path) ended after \(sent) of \(total) bytes", errno: EIO, function: function)
                }
                try stream.sendAll(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
                sent += UInt64(got)
                progress?(sent)
            }
            return sent
        }
    }

    /// Writes `data` into the volume at `offset`. Returns the bytes sent.
    @discardableResult
    public func upload(data: [UInt8], offset: UInt64 = 0) throws -> UInt64 {
        try data.withUnsafeBytes { try upload(bytes: $0, offset: offset) }
    }

    /// Writes `data` into the volume at `offset`. Returns the bytes sent.
    @discardableResult
    public func upload(data: Data, offset: UInt64 = 0) throws -> UInt64 {
        try data.withUnsafeBytes { try upload(bytes: $0, offset: offset) }
    }

    private func upload(bytes: UnsafeRawBufferPointer, offset: UInt64) throws -> UInt64 {
        try transferUp(offset: offset, length: UInt64(bytes.count)) { stream in
            var sent = 0
            while sent < bytes.count {
                let end = min(sent + Self.chunkSize, bytes.count)
                try stream.sendAll(UnsafeRawBufferPointer(rebasing: bytes[sent..<end]))
                sent = end
            }
            return UInt64(sent)
        }
    }

    /// Opens an upload stream for `length` bytes at `offset`: the caller sends with `sendAll`
    /// and must `finish` (the far side reports a failed write there) or `abort`; a stream freed
    /// while open is aborted.
    public func openUpload(offset: UInt64, length: UInt64) throws -> Stream {
        let stream = try Stream(connection: connection)
        try check(virStorageVolUpload(pointer, stream.pointer, offset, length, 0), "virStorageVolUpload")
        stream.markActive()
        return stream
    }

    /// Opens an upload stream, runs `body`, then finishes the stream; any failure aborts it.
    private func transferUp(offset: UInt64, length: UInt64, _ body: (Stream) throws -> UInt64) throws -> UInt64 {
        let stream = try Stream(connection: connection)
        try check(virStorageVolUpload(pointer, stream.pointer, offset, length, 0), "virStorageVolUpload")
        stream.markActive()
        do {
            let sent = try body(stream)
            try stream.finish()
            return sent
        } catch {
            stream.abortQuietly()
            throw error
        }
    }

    // MARK: Download

    /// Copies the volume's bytes from `offset` (`length` bytes, or to the end when 0) into a
    /// local file, which is created (mode 0600) or truncated. `progress` gets the running
    /// byte count. On failure a file this call created is removed. Returns the bytes received.
    @discardableResult
    public func download(
        to fileURL: URL, offset: UInt64 = 0, length: UInt64 = 0, progress: ((UInt64) -> Void)? = nil
    ) throws -> UInt64 {
        let function = "StorageVolume.download"
        let path = fileURL.path
        var existed = stat()
        let createdHere = lstat(path, &existed) != 0
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LibvirtError.system("open \(path)", errno: errno, function: function) }
        var fdOpen = true
        defer { if fdOpen { close(fd) } }

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        let stream = try Stream(connection: connection)
        do {
            try check(virStorageVolDownload(pointer, stream.pointer, offset, length, 0), "virStorageVolDownload")
            stream.markActive()
            var received: UInt64 = 0
            while let count = try stream.receive(into: buffer), count > 0 {
                var written = 0
                while written < count {
                    let rc = write(fd, buffer.baseAddress?.advanced(by: written), count - written)
                    if rc < 0 {
                        if errno == EINTR { continue }
                        throw LibvirtError.system("write \(path)", errno: errno, function: function)
                    }
                    written += rc
                }
                received += UInt64(count)
                progress?(received)
            }
            try stream.finish()
            fdOpen = false
            guard close(fd) == 0 else {
                throw LibvirtError.system("close \(path)", errno: errno, function: function)
            }
            return received
        } catch {
            stream.abortQuietly()
            if createdHere { unlink(path) }
            throw error
        }
    }
}
