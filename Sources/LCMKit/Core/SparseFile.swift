import Foundation

/// A local file written at offsets that keeps its holes: disk images built on lcm's machine
/// (a user-data disk's layout) where only a few megabytes of a large virtual size hold data.
final class SparseFile {
    let path: String
    private let fd: Int32

    /// lseek's data/hole whences (Linux values; Glibc hides them behind _GNU_SOURCE).
    private static let seekData: Int32 = 3
    private static let seekHole: Int32 = 4

    /// Creates (or truncates) `path` as a private (0600) file of `size` bytes, all of them a hole.
    static func create(_ path: String, size: Int64) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", path) }
        defer { _ = Glibc.close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else { throw failure("size", path) }
    }

    init(path: String, writable: Bool) throws {
        self.path = path
        fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", path) }
    }

    func close() { _ = Glibc.close(fd) }

    func write(_ bytes: [UInt8], at offset: Int64) throws {
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard written == bytes.count else { throw Self.failure("write", path) }
    }

    func read(count: Int, at offset: Int64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let done = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard done == count else { throw Self.failure("read", path) }
        return bytes
    }

    /// Copies every data extent of this file into `target` at `offset` plus the extent's place,
    /// leaving the holes alone (the target's are holes already).
    func copyData(to target: SparseFile, at offset: Int64) throws {
        let size = lseek(fd, 0, SEEK_END)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position: off_t = 0
        while position < size {
            let start = lseek(fd, position, Self.seekData)
            if start < 0 { break }   // ENXIO: no data after `position`
            let end = lseek(fd, start, Self.seekHole)
            guard end > start else { throw Self.failure("scan", path) }
            var at = start
            while at < end {
                let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, Int(end - at)), at) }
                guard count > 0 else { throw Self.failure("read", path) }
                try target.write(Array(buffer[0..<count]), at: offset + Int64(at))
                at += off_t(count)
            }
            position = end
        }
    }

    private static func failure(_ what: String, _ path: String) -> LCMError {
        LCMError(.cannotWrite, "cannot \(what) \(path): \(String(cString: strerror(errno)))", hint: "check the free space and permissions there")
    }
}
