import Foundation

/// A file written under a hidden temporary name beside its destination and renamed into place
/// only when complete, so a failed or interrupted write never leaves a partial archive behind.
final class AtomicOutputFile {
    let destination: String
    private(set) var fd: Int32
    private let temporaryPath: String
    private var isOpen = true

    init(destination url: URL, permissions: mode_t) throws {
        destination = url.path
        let directory = url.deletingLastPathComponent().path
        // Same directory as the destination so rename(2) is atomic (same filesystem). The
        // random suffix plus O_EXCL does what mkostemp does; Glibc hides that one from Swift.
        var fd: Int32 = -1
        var candidate = ""
        for _ in 0..<16 {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            candidate = "\(directory)/.\(url.lastPathComponent).partial-\(suffix)"
            fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw ArchiveError.system("cannot create a temporary file in", path: directory, errno: errno)
        }
        self.fd = fd
        temporaryPath = candidate
        // Created 0600; set the final mode now so the rename publishes it atomically.
        if fchmod(fd, permissions) != 0 {
            let error = ArchiveError.system("cannot set permissions of", path: temporaryPath, errno: errno)
            discard()
            throw error
        }
    }

    /// Flushes, closes and renames the file into place.
    func commit() throws {
        precondition(isOpen, "AtomicOutputFile committed after close")
        if fsync(fd) != 0 {
            let error = ArchiveError.system("cannot flush", path: temporaryPath, errno: errno)
            discard()
            throw error
        }
        isOpen = false
        if close(fd) != 0 {
            let error = ArchiveError.system("cannot close", path: temporaryPath, errno: errno)
            unlink(temporaryPath)
            throw error
        }
        if rename(temporaryPath, destination) != 0 {
            let error = ArchiveError.system("cannot rename the finished archive to", path: destination, errno: errno)
            unlink(temporaryPath)
            throw error
        }
    }

    /// Closes and deletes the temporary file; the destination is left untouched.
    func discard() {
        guard isOpen else { return }
        isOpen = false
        close(fd)
        unlink(temporaryPath)
    }

    deinit { discard() }
}
