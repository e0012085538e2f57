import Foundation

/// A passphrase in a 0600 file under `$LCM_HOME/run`, for a tool that cannot read a secret from a
/// pipe. lcm's own qemu calls use stdin; this is the registered fallback.
///
/// The file is registered as a key copy and, through `recorder`, as a leftover of the running
/// operation before it is written, and shredded by `remove()` right after the tool read it.
public final class TemporaryKeyFile: @unchecked Sendable {
    public let path: String
    private let copyID: Int64
    private let inventory: Inventory
    private let resource: LeftoverToken?
    private let recorder: LeftoverRecorder?

    /// Writes `passphrase` to a new file (O_EXCL, 0600) in `$LCM_HOME/run`.
    public init(keyID: String, passphrase: DiskPassphrase, inventory: Inventory, recorder: LeftoverRecorder?) throws {
        try inventory.home.prepare()
        let path = inventory.home.runURL.appendingPathComponent("key-\(UUID().uuidString.prefix(8)).secret").path
        self.path = path
        self.inventory = inventory
        self.recorder = recorder
        copyID = try inventory.write { db in
            try KeyCopyRegistry.register(db, keyID: keyID, location: .tempFile, hostURI: nil, detail: path)
        }
        resource = try recorder?.record(.file(path))
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw LCMError(.cannotWrite, "cannot create key file \(path): \(String(cString: strerror(errno)))")
        }
        let written = passphrase.withBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == passphrase.count else {
            _ = Self.shred(path: path)
            throw LCMError(.cannotWrite, "cannot write key file \(path)")
        }
    }

    /// Shreds the file and marks the copy destroyed. Safe to call twice.
    public func remove() {
        let how = Self.shred(path: path)
        try? inventory.write { try KeyCopyRegistry.markDestroyed($0, copyID: copyID, how: how) }
        if let resource { try? recorder?.release(resource) }
    }

    deinit { if access(path, F_OK) == 0 { remove() } }

    /// Overwrites a file with zeros (flushed to disk), then unlinks it. Returns what it did.
    @discardableResult
    public static func shred(path: String) -> String {
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        var how = "absent"
        if fd >= 0 {
            var info = stat()
            if fstat(fd, &info) == 0, info.st_size > 0 {
                let zeros = [UInt8](repeating: 0, count: Int(info.st_size))
                _ = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                fsync(fd)
            }
            close(fd)
            how = "overwritten with zeros and unlinked"
        }
        unlink(path)
        return how
    }
}
