import Foundation

/// A file the admin handed to lcm (an image to import, a CSV, a profile, an archive, a .reg),
/// opened once and checked before a byte is read: lcm then reads this descriptor, and helper
/// tools get `toolPath`, which names the same open file, so the path is never looked up again
/// (no window in which it could be swapped for another file).
///
/// Why the checks: lcm runs as root. Opening a FIFO for reading blocks until a writer comes,
/// which may be never; a character device such as /dev/zero reads without end. So the path is
/// opened without blocking and only a regular file passes, or a block device where the caller
/// accepts one (a disk image the admin named).
public final class InputFile: Sendable {
    public enum Kind: String, Sendable {
        case regularFile = "regular file"
        case blockDevice = "block device"
    }

    /// The path as given, for messages and provenance.
    public let path: String
    /// What the file is for, in messages ("disk image", "CSV file").
    public let what: String
    public let descriptor: Int32
    public let kind: Kind
    /// Bytes in the file or device when it was opened.
    public let size: UInt64
    public let device: UInt64
    public let inode: UInt64

    /// Opens `path` for reading. `what` names the file in messages ("disk image", "CSV file").
    public init(_ path: String, what: String, allowBlockDevice: Bool = false) throws {
        let hint = "give the path of a \(what)"
        guard !path.isEmpty else { throw LCMError(.usage, "an empty path was given for the \(what)", hint: hint) }
        // O_NONBLOCK: opening a FIFO for reading does not wait for a writer; cleared below.
        let fd = Foundation.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let code = errno
            switch code {
            case ENOENT, ENOTDIR, ELOOP:
                throw LCMError(.notFound, "\(path) does not exist", hint: hint)
            case EACCES, EPERM:
                throw LCMError(.notFound, "\(path) cannot be read: permission denied", hint: "check the file's permissions")
            default:
                throw LCMError(.notFound, "cannot open \(path): \(String(cString: strerror(code)))", hint: hint)
            }
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw LCMError(.notFound, "cannot read \(path): \(message)", hint: hint)
        }
        let type = status.st_mode & S_IFMT
        let kind: Kind
        if type == S_IFREG {
            kind = .regularFile
        } else if type == S_IFBLK && allowBlockDevice {
            kind = .blockDevice
        } else {
            close(fd)
            throw LCMError(.notFound, "\(path) is \(Self.describe(type)), not a \(what)",
                           hint: allowBlockDevice ? "\(hint) (a regular file, or a block device)" : hint)
        }
        // Reads from here on may block as any file read does.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var size = UInt64(max(0, status.st_size))
        if kind == .blockDevice {
            let end = lseek(fd, 0, SEEK_END)
            size = end > 0 ? UInt64(end) : 0
            lseek(fd, 0, SEEK_SET)
        }
        self.path = path
        self.what = what
        self.descriptor = fd
        self.kind = kind
        self.size = size
        self.device = UInt64(status.st_dev)
        self.inode = UInt64(status.st_ino)
    }

    deinit { close(descriptor) }

    /// The most lcm reads of a CSV file (devices, deployments): a fleet of 100,000 rows is a few
    /// dozen MiB.
    public static let csvLimit: UInt64 = 256 << 20

    /// A path that opens this very file in any process of lcm's user (the kernel's link to
    /// lcm's open descriptor), for tools such as qemu-img that take a path.
    public var toolPath: String { "/proc/\(getpid())/fd/\(descriptor)" }

    /// Up to `count` bytes at `offset` (fewer at the end of the file).
    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw LCMError(.dataError, "cannot read \(path): \(String(cString: strerror(errno)))",
                               hint: "check that the file is complete and readable")
            }
            if got == 0 { break }
            done += got
        }
        return Array(bytes[..<done])
    }

    /// The whole file, refused when larger than `limit` bytes: outside input never costs
    /// unbounded memory.
    public func contents(limit: UInt64) throws -> Data {
        guard size <= limit else {
            throw LCMError(.dataError, "\(path) is \(ByteSize.format(size)), more than lcm reads of a \(what) (\(ByteSize.format(limit)))",
                           hint: "check that this is the right file")
        }
        // One byte past the limit tells a file that grew since it was opened.
        let bytes = try read(at: 0, count: Int(size) + 1)
        guard UInt64(bytes.count) <= limit else {
            throw LCMError(.dataError, "\(path) grew past \(ByteSize.format(limit)) while it was read", hint: "check that this is the right file")
        }
        return Data(bytes)
    }

    private static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }
}
