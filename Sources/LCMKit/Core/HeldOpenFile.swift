import Foundation

/// Reads files that SQLite may hold open in this process (the inventory and its WAL).
///
/// Closing any descriptor of a file drops every POSIX record lock the process holds on that file,
/// SQLite's included, without SQLite knowing: another process may then checkpoint or rewrite the
/// database under this one's feet (this corrupted an inventory in a test that kept it open while
/// `lcm deploy --undo` scanned it). So these descriptors are opened once per file and never closed.
enum HeldOpenFile {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var descriptors: [String: (fd: Int32, device: UInt64, inode: UInt64)] = [:]

    /// A descriptor of the file now at `path` (a replaced file gets a new one; the old stays open).
    static func descriptor(_ path: String) -> Int32? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let held = descriptors[path], held.device == UInt64(status.st_dev), held.inode == UInt64(status.st_ino) {
            return held.fd
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var opened = stat()
        guard fstat(fd, &opened) == 0 else { return nil }
        descriptors[path] = (fd, UInt64(opened.st_dev), UInt64(opened.st_ino))
        return fd
    }

    /// Up to `count` bytes from `offset`.
    static func read(_ path: String, offset: Int64, count: Int) -> [UInt8]? {
        guard let fd = descriptor(path) else { return nil }
        var buffer = [UInt8](repeating: 0, count: count)
        let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard got >= 0 else { return nil }
        return Array(buffer.prefix(got))
    }

    /// Whether the file holds `needle` anywhere, read in 4 MiB blocks.
    static func contains(_ path: String, needle: Data) -> Bool {
        guard !needle.isEmpty else { return false }
        let chunk = 4 << 20
        var offset: Int64 = 0
        var carry = Data()
        while let block = read(path, offset: offset, count: chunk), !block.isEmpty {
            let window = carry + block
            if window.range(of: needle) != nil { return true }
            carry = window.suffix(needle.count - 1)
            offset += Int64(block.count)
        }
        return false
    }
}
