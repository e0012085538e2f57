import Crypto
import Foundation

/// SHA-256 of whole files, read in large blocks.
public enum FileDigest {
    /// The hex SHA-256 of a file.
    public static func sha256(path: String) throws -> String {
        try sha256Bytes(path: path).digest.hexString
    }

    /// The file's length and raw SHA-256.
    public static func sha256Bytes(path: String) throws -> (bytes: UInt64, digest: [UInt8]) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LCMError(.notFound, "cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Sequential hint: the kernel reads ahead aggressively, which matters on a cold cache.
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        var hasher = SHA256()
        var total: UInt64 = 0
        let size = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let count = read(fd, buffer.baseAddress, size)
            if count < 0 {
                if errno == EINTR { continue }
                throw LCMError(.cannotWrite, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += UInt64(count)
        }
        return (total, Array(hasher.finalize()))
    }
}

extension Duration {
    /// Whole and fractional seconds, for reports.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
