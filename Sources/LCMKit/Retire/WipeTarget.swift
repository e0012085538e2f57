import Foundation
import Libvirt

/// A file to overwrite and read back: a local file (direct I/O) or a volume on a device's host
/// (libvirt streams). The overwriter sees only positions and buffers.
public protocol WipeTarget: AnyObject {
    /// Bytes to overwrite: the whole host file, not only what its format maps.
    var size: UInt64 { get }
    /// How writes reach the storage, for the certificate.
    var route: String { get }
    /// The overwriter syncs at multiples of this many bytes (and at the end): the points a
    /// killed pass resumes from.
    var checkpointBytes: UInt64 { get }
    /// Writes `bytes` at `offset`. Writes of a pass come in order.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// Makes every write so far durable (returns once the storage has it).
    func sync() throws
    /// Reads `buffer.count` bytes at `offset`, past any cache of lcm's own host.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws
}

/// A local file written and read with `O_DIRECT` (no page-cache copy left to stand in for the
/// disk), its unaligned tail through the cache and `fdatasync`, then dropped from the cache.
public final class LocalWipeTarget: WipeTarget {
    public let path: String
    public let size: UInt64
    public var route: String {
        direct >= 0 ? "local file, O_DIRECT writes and reads, fdatasync"
            : "local file, buffered writes (the filesystem refuses O_DIRECT), fdatasync, page cache dropped before reads"
    }
    public let checkpointBytes: UInt64
    /// -1 where the filesystem refuses O_DIRECT (tmpfs): everything goes through `buffered`.
    private let direct: Int32
    private let buffered: Int32
    /// Direct I/O alignment: offsets, lengths and buffers in multiples of this.
    static let alignment: UInt64 = 4096
    /// Linux's O_DIRECT (Glibc's Swift module leaves out the _GNU_SOURCE flags); x86-64 and
    /// arm64 differ, so the value is per architecture.
    #if arch(arm64)
    static let openDirect: Int32 = 0o200000
    #else
    static let openDirect: Int32 = 0o40000
    #endif

    /// How the file is reached.
    public enum Opening: Sendable {
        /// `path` as given (benchmarks, a block device the admin names).
        case asGiven
        /// A retirement's file: reached without following any link another user could have
        /// made, refused unless it is a regular file with one link and, when the plan recorded
        /// one (plans made before lcm did have none), the planned device and inode (`LinkSafePath`).
        case planned(FileIdentity?)
    }

    public init(path: String, opening: Opening = .asGiven, checkpointBytes: UInt64 = 256 << 20) throws {
        self.path = path
        self.checkpointBytes = checkpointBytes
        var planned: FileIdentity?
        var linkSafe = false
        if case .planned(let identity) = opening {
            planned = identity
            linkSafe = true
        }
        if linkSafe {
            buffered = try LinkSafePath.openPlannedFile(path, flags: O_RDWR, planned: planned)
            // The direct descriptor is the same open file again, never the name looked up twice.
            direct = open("/proc/self/fd/\(buffered)", O_RDWR | Self.openDirect | O_CLOEXEC)
        } else {
            buffered = open(path, O_RDWR | O_CLOEXEC)
            guard buffered >= 0 else { throw Self.error("open", path) }
            direct = open(path, O_RDWR | Self.openDirect | O_CLOEXEC)
        }
        guard direct >= 0 || errno == EINVAL else {
            let error = Self.error("open (direct I/O)", path)
            close(buffered)
            throw error
        }
        if linkSafe {
            if direct >= 0 {
                do { try LinkSafePath.check(direct, path: path, planned: planned) } catch {
                    close(direct)
                    close(buffered)
                    throw error
                }
            }
            // O_NONBLOCK only kept a FIFO from hanging the open (refused since).
            _ = fcntl(buffered, F_SETFL, fcntl(buffered, F_GETFL) & ~O_NONBLOCK)
        }
        var status = stat()
        guard fstat(buffered, &status) == 0 else { throw Self.error("stat", path) }
        guard (status.st_mode & S_IFMT) == S_IFREG || (status.st_mode & S_IFMT) == S_IFBLK else {
            if direct >= 0 { close(direct) }
            close(buffered)
            throw LCMError(.usage, "\(path) is not a regular file or block device")
        }
        if (status.st_mode & S_IFMT) == S_IFBLK {
            var bytes: UInt64 = 0
            guard ioctl(buffered, 0x8008_1272 /* BLKGETSIZE64 */, &bytes) == 0 else { throw Self.error("BLKGETSIZE64", path) }
            size = bytes
        } else {
            size = UInt64(status.st_size)
        }
    }

    deinit {
        if direct >= 0 { close(direct) }
        close(buffered)
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try transfer(count: bytes.count, at: offset, base: UnsafeMutableRawPointer(mutating: bytes.baseAddress!)) { fd, pointer, count, position in
            pwrite(fd, pointer, count, position)
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        // The tail goes through the cache: drop what the cache holds so the read reaches the disk.
        _ = posix_fadvise(buffered, 0, 0, POSIX_FADV_DONTNEED)
        try transfer(count: buffer.count, at: offset, base: buffer.baseAddress!) { fd, pointer, count, position in
            pread(fd, pointer, count, position)
        }
    }

    public func sync() throws {
        guard fdatasync(buffered) == 0 else { throw Self.error("fdatasync", path) }
        _ = posix_fadvise(buffered, 0, 0, POSIX_FADV_DONTNEED)
    }

    /// The aligned part with direct I/O (the buffer must be 4096-aligned), the rest buffered.
    private func transfer(count: Int, at offset: UInt64, base: UnsafeMutableRawPointer,
                          _ io: (Int32, UnsafeMutableRawPointer, Int, off_t) -> Int) throws {
        var done = 0
        while done < count {
            let position = offset + UInt64(done)
            let remaining = count - done
            let aligned = direct >= 0 && position % Self.alignment == 0 && Int(bitPattern: base + done) % Int(Self.alignment) == 0
            let directCount = aligned ? remaining - remaining % Int(Self.alignment) : 0
            let fd = directCount > 0 ? direct : buffered
            let want = directCount > 0 ? directCount : remaining
            let rc = io(fd, base + done, want, off_t(position))
            if rc < 0 {
                if errno == EINTR { continue }
                throw Self.error(fd == direct ? "direct I/O" : "I/O", path, at: position)
            }
            if rc == 0 { throw LCMError(.unavailable, "\(path): unexpected end of file at byte \(position)") }
            done += rc
        }
    }

    private static func error(_ what: String, _ path: String, at position: UInt64? = nil) -> LCMError {
        let place = position.map { " at byte \($0)" } ?? ""
        return LCMError(.cannotWrite, "\(what) \(path)\(place): \(String(cString: strerror(errno)))")
    }
}

/// A volume on a device's host, written through libvirt upload streams and read through
/// download streams: works on remote hosts. Each write is one stream, finished before the next
/// (finishing is where libvirtd reports a failed write). libvirt neither bypasses the host's page
/// cache nor syncs an upload, so the certificate says durability rests on libvirtd.
public final class StreamWipeTarget: WipeTarget {
    public let volume: StorageVolume
    public let size: UInt64
    public let route = "libvirt storage volume streams (virStorageVolUpload/Download); host cache and sync are libvirtd's"
    public let checkpointBytes: UInt64 = 256 << 20

    public init(volume: StorageVolume) throws {
        self.volume = volume
        size = try volume.physicalSize()
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        let stream = try volume.openUpload(offset: offset, length: UInt64(bytes.count))
        do {
            try stream.sendAll(bytes)
            try stream.finish()
        } catch {
            try? stream.abort()
            throw error
        }
    }

    /// Every write was finished by libvirtd before `write` returned.
    public func sync() throws {}

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        var filled = 0
        let name = (try? volume.name) ?? "volume"
        let received = try volume.download(offset: offset, length: UInt64(buffer.count)) { chunk in
            guard filled + chunk.count <= buffer.count else {
                throw LCMError(.unavailable, "\(name): the stream sent more than asked")
            }
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + chunk.count)]).copyMemory(from: chunk)
            filled += chunk.count
        }
        guard received == UInt64(buffer.count) else {
            throw LCMError(.unavailable, "\(name): \(received) of \(buffer.count) bytes read at \(offset)")
        }
    }
}
