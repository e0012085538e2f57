import Foundation

/// A file's identity on its host (device and inode numbers): recorded when a retirement is
/// planned, compared every time the file is opened again, so a name that was pointed at another
/// file in between is refused instead of wiped.
public struct FileIdentity: Codable, Sendable, Equatable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ status: stat) {
        self.init(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    public var description: String { "device \(device), inode \(inode)" }
}

/// Host files lcm overwrites or removes as root (volumes, NVRAM, TPM state, logs) are reached
/// through directory handles, one component at a time, never through a symbolic link someone
/// else could have made: some of those directories belong to other users (swtpm's state is
/// `tss`'s), who could otherwise point a name at any file on the host.
enum LinkSafePath {
    /// Why a file cannot be wiped as planned (exit 3: the check of the file did not pass).
    static func refusal(_ path: String, _ reason: String) -> LCMError {
        LCMError(.checkFailed, "refusing to touch \(path): \(reason)",
                 hint: "nothing was written to it; find out who changed it, put the planned file back (or remove what replaced it), then run `lcm retire` again")
    }

    /// Whether `error` is such a refusal: it stops a retirement at once (nothing else is tried
    /// on a host where names are being moved under lcm).
    static func isRefusal(_ error: Error) -> Bool {
        (error as? LCMError).map { $0.code == .checkFailed && $0.message.hasPrefix("refusing to touch ") } ?? false
    }

    /// Opens the directory holding `path` and returns it with the last component. A symbolic
    /// link on the way is followed only when it sits in a directory that only root can change
    /// (the admin's own layout, e.g. a pool directory that is a link); a link in a directory any
    /// other user owns or may write is refused.
    static func openParent(of path: String) throws -> (directory: Int32, name: String) {
        guard path.hasPrefix("/") else { throw refusal(path, "not an absolute path") }
        let components = path.split(separator: "/").map(String.init)
        guard let name = components.last, name != ".", name != ".." else { throw refusal(path, "names no file") }
        let directory = try openDirectory(components.dropLast(), path: path, linksLeft: 16)
        return (directory, name)
    }

    /// Opens the directory at `path` under the same rules (nil when it does not exist).
    static func openDirectory(_ path: String) throws -> Int32? {
        guard path.hasPrefix("/") else { throw refusal(path, "not an absolute path") }
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return try openDirectory(path.split(separator: "/").map(String.init)[...], path: path, linksLeft: 16)
    }

    private static func openDirectory(_ components: ArraySlice<String>, path: String, linksLeft: Int) throws -> Int32 {
        var fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw refusal(path, "cannot open /") }
        var walked: [String] = []
        var remaining = Array(components)
        while !remaining.isEmpty {
            let component = remaining.removeFirst()
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                close(fd)
                throw refusal(path, "its path contains '..'")
            }
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next >= 0 {
                close(fd)
                fd = next
                walked.append(component)
                continue
            }
            let openErrno = errno
            var link = stat(), here = stat()
            guard fstatat(fd, component, &link, AT_SYMLINK_NOFOLLOW) == 0, link.st_mode & S_IFMT == S_IFLNK else {
                close(fd)
                throw refusal(path, "cannot open its directory \(component): \(String(cString: strerror(openErrno)))")
            }
            guard fstat(fd, &here) == 0, here.st_uid == 0, here.st_mode & 0o022 == 0, link.st_uid == 0, linksLeft > 0 else {
                close(fd)
                throw refusal(path, "\(component) on its path is a symbolic link in a directory another user can change")
            }
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlinkat(fd, component, &target, target.count - 1)
            close(fd)
            guard count > 0 else { throw refusal(path, "cannot read the symbolic link \(component)") }
            let text = String(decoding: target.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // The link's target, resolved against where the link is, then the rest of the path;
            // walked again from / under the same rules.
            var resolved = text.hasPrefix("/") ? [] : walked
            for part in text.split(separator: "/").map(String.init) + remaining where part != "." {
                if part == ".." { _ = resolved.popLast() } else { resolved.append(part) }
            }
            return try openDirectory(resolved[...], path: path, linksLeft: linksLeft - 1)
        }
        return fd
    }

    /// The identity of the regular file at `path` with its link count, or why it is not one.
    /// Nothing on the way is followed except as `openParent` allows.
    static func inspect(_ path: String) throws -> (identity: FileIdentity, kind: mode_t, links: UInt64)? {
        let (directory, name) = try openParent(of: path)
        defer { close(directory) }
        var status = stat()
        guard fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw refusal(path, String(cString: strerror(errno)))
        }
        return (FileIdentity(status), status.st_mode & S_IFMT, UInt64(status.st_nlink))
    }

    /// Opens the file at `path` for overwriting: never through a link, only a regular file with
    /// no other hard link, and only the file the plan recorded (`planned`, when given).
    static func openPlannedFile(_ path: String, flags: Int32, planned: FileIdentity?) throws -> Int32 {
        let (directory, name) = try openParent(of: path)
        defer { close(directory) }
        // O_NONBLOCK: a FIFO put in the file's place must not hang the open.
        let fd = openat(directory, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw refusal(path, "it is now a symbolic link") }
            throw refusal(path, "cannot open it: \(String(cString: strerror(errno)))")
        }
        do {
            try check(fd, path: path, planned: planned)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Refuses an open file that is not the regular, singly linked file the plan recorded.
    static func check(_ fd: Int32, path: String, planned: FileIdentity?) throws {
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw refusal(path, String(cString: strerror(errno))) }
        let kind = status.st_mode & S_IFMT
        guard kind == S_IFREG else {
            throw refusal(path, kind == S_IFBLK ? "it is now a block device" : "it is no longer a regular file")
        }
        guard status.st_nlink == 1 else {
            throw refusal(path, "it now has \(status.st_nlink) hard links: another name shares its blocks and would be overwritten with it")
        }
        guard planned == nil || FileIdentity(status) == planned else {
            throw refusal(path, "it is another file than the one planned (\(FileIdentity(status)), planned \(planned!))")
        }
    }

    /// Removes the planned file at `path` (absent is fine); refuses a name now given to another
    /// file (or, without a recorded identity, to anything but a regular file).
    static func unlinkPlannedFile(_ path: String, planned: FileIdentity?) throws {
        let (directory, name) = try openParent(of: path)
        defer { close(directory) }
        var status = stat()
        guard fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw refusal(path, String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFREG, planned == nil || FileIdentity(status) == planned else {
            throw refusal(path, "it is another file than the one planned and overwritten")
        }
        guard unlinkat(directory, name, 0) == 0 || errno == ENOENT else {
            throw LCMError(.cannotWrite, "cannot remove \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes the empty directory at `path` (absent or not empty is fine).
    static func removeEmptyDirectory(_ path: String) {
        guard let (directory, name) = try? openParent(of: path) else { return }
        defer { close(directory) }
        _ = unlinkat(directory, name, AT_REMOVEDIR)
    }
}
