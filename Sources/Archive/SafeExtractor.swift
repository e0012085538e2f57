import CArchive
import Foundation

/// Creates archive entries below one destination directory using only *at() system calls
/// relative to directory descriptors opened with O_NOFOLLOW. Nothing depends on the process
/// working directory, and no existing symlink inside the destination is ever traversed.
final class SafeExtractor {
    private typealias Name = [CChar]  // one NUL-terminated path component

    private let rootFD: Int32
    private let rootPath: String
    /// Directory modes and mtimes are applied last: a read-only mode would block creating
    /// children, and creating children changes the mtime.
    private var directories: [(components: [Name], permissions: mode_t, modificationTime: timespec?)] = []

    init(destination: URL) throws {
        rootPath = destination.path
        try Self.makeDirectories(rootPath)
        rootFD = open(rootPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else {
            throw ArchiveError.system("cannot open extraction directory", path: rootPath, errno: errno)
        }
    }

    deinit { close(rootFD) }

    func extract(_ entry: OpaquePointer, _ info: ArchiveEntry, from archive: OpaquePointer) throws {
        guard let rawPath = RawEntryNames.path(entry) else {
            throw ArchiveError(.library, "cannot decode the name of an entry")
        }
        let components = try Self.safeComponents(rawPath, entry: info.path)
        // "./" and the like name the destination itself.
        guard let name = components.last else { return }
        let mtime = archive_entry_mtime_is_set(entry) != 0
            ? timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry)) : nil

        switch info.kind {
        case .directory:
            close(try openDirectory(components, create: true, entry: info.path))
            directories.append((components, info.permissions, mtime))

        case .regularFile:
            let parent = try openDirectory(components.dropLast(), create: true, entry: info.path)
            defer { close(parent) }
            try removeExisting(name, in: parent, entry: info.path)
            let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ArchiveError.system("cannot create file for entry", path: info.path, errno: errno) }
            defer { close(fd) }
            do {
                try copyData(from: archive, to: fd, expectedSize: info.size, entry: info.path)
            } catch {
                // A truncated or corrupt entry must not look like a restored file.
                unlinkat(parent, name, 0)
                throw error
            }
            guard fchmod(fd, info.permissions & 0o777) == 0 else {
                throw ArchiveError.system("cannot set permissions for entry", path: info.path, errno: errno)
            }
            if let mtime {
                var times = [mtime, mtime]
                guard futimens(fd, &times) == 0 else {
                    throw ArchiveError.system("cannot set mtime for entry", path: info.path, errno: errno)
                }
            }

        case .symbolicLink:
            let target = RawEntryNames.symlink(entry) ?? []
            try Self.checkSymlinkTarget(target, linkDepth: components.count - 1, entry: info.path)
            let parent = try openDirectory(components.dropLast(), create: true, entry: info.path)
            defer { close(parent) }
            try removeExisting(name, in: parent, entry: info.path)
            guard symlinkat(Self.cName(target[...]), parent, name) == 0 else {
                throw ArchiveError.system("cannot create symlink for entry", path: info.path, errno: errno)
            }
            if let mtime {
                var times = [mtime, mtime]
                // Best effort: not every filesystem stores symlink times.
                _ = utimensat(parent, name, &times, AT_SYMLINK_NOFOLLOW)
            }

        case .hardLink:
            let targetBytes = RawEntryNames.hardlink(entry) ?? []
            let targetComponents = try Self.safeComponents(targetBytes, entry: info.path, role: "hard link target")
            guard let targetName = targetComponents.last else {
                throw ArchiveError(.unsafeEntry, "hard link to the destination directory itself in entry", path: info.path)
            }
            let targetParent = try openDirectory(targetComponents.dropLast(), create: false, entry: info.path)
            defer { close(targetParent) }
            let parent = try openDirectory(components.dropLast(), create: true, entry: info.path)
            defer { close(parent) }
            try removeExisting(name, in: parent, entry: info.path)
            // No AT_SYMLINK_FOLLOW: if the target is a symlink, the link names the symlink itself.
            guard linkat(targetParent, targetName, parent, name, 0) == 0 else {
                throw ArchiveError.system("cannot create hard link for entry", path: info.path, errno: errno)
            }

        default:
            throw ArchiveError(.unsupportedEntry, "refusing to extract device, FIFO or socket entry", path: info.path)
        }
    }

    /// Applies deferred directory modes and mtimes, deepest first.
    func applyDirectoryAttributes() throws {
        for directory in directories.sorted(by: { $0.components.count > $1.components.count }) {
            let path = directory.components.map(Self.display).joined(separator: "/")
            let fd = try openDirectory(directory.components[...], create: false, entry: path)
            defer { close(fd) }
            guard fchmod(fd, directory.permissions & 0o777) == 0 else {
                throw ArchiveError.system("cannot set permissions for entry", path: path, errno: errno)
            }
            if let mtime = directory.modificationTime {
                var times = [mtime, mtime]
                guard futimens(fd, &times) == 0 else {
                    throw ArchiveError.system("cannot set mtime for entry", path: path, errno: errno)
                }
            }
        }
    }

    // MARK: - Filesystem steps

    /// Opens (and with `create`, makes) a directory below the root, one component at a time
    /// with O_NOFOLLOW, so a symlink anywhere on the way is refused instead of followed.
    /// The caller closes the returned descriptor.
    private func openDirectory(_ components: ArraySlice<Name>, create: Bool, entry: String) throws -> Int32 {
        var fd = dup(rootFD)
        guard fd >= 0 else { throw ArchiveError.system("cannot duplicate descriptor of", path: rootPath, errno: errno) }
        for component in components {
            if create, mkdirat(fd, component, 0o755) != 0, errno != EEXIST {
                let error = ArchiveError.system("cannot create a directory for entry", path: entry, errno: errno)
                close(fd)
                throw error
            }
            let next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let openErrno = errno
            if next < 0 {
                var info = stat()
                let isSymlink = fstatat(fd, component, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK
                close(fd)
                if isSymlink {
                    throw ArchiveError(
                        .unsafeEntry, "refusing to write through the symlink '\(Self.display(component))' for entry",
                        path: entry)
                }
                throw ArchiveError.system("cannot open a parent directory of entry", path: entry, errno: openErrno)
            }
            close(fd)
            fd = next
        }
        return fd
    }

    private func openDirectory(_ components: [Name], create: Bool, entry: String) throws -> Int32 {
        try openDirectory(components[...], create: create, entry: entry)
    }

    /// Removes whatever non-directory (or empty directory) is in the way, so the new entry is
    /// created fresh and never written through an existing link.
    private func removeExisting(_ name: Name, in parent: Int32, entry: String) throws {
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw ArchiveError.system("cannot inspect existing file for entry", path: entry, errno: errno)
        }
        let flags = info.st_mode & S_IFMT == S_IFDIR ? AT_REMOVEDIR : 0
        guard unlinkat(parent, name, flags) == 0 else {
            throw ArchiveError.system("cannot replace existing file for entry", path: entry, errno: errno)
        }
    }

    /// Writes data blocks at their offsets, so holes in sparse entries stay holes.
    private func copyData(from archive: OpaquePointer, to fd: Int32, expectedSize: Int64?, entry: String) throws {
        var end: Int64 = 0
        while true {
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let status = archive_read_data_block(archive, &block, &size, &offset)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK else {
                throw ArchiveError.library(archive, "cannot read data of entry", path: entry)
            }
            var done = 0
            while done < size, let block {
                let count = pwrite(fd, block + done, size - done, off_t(offset) + off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    throw ArchiveError.system("cannot write data of entry", path: entry, errno: errno)
                }
                done += count
            }
            end = max(end, offset + Int64(size))
        }
        let finalSize = max(end, expectedSize ?? 0)
        if finalSize > end, ftruncate(fd, off_t(finalSize)) != 0 {
            throw ArchiveError.system("cannot size file for entry", path: entry, errno: errno)
        }
    }

    // MARK: - Path rules

    private static func split(_ bytes: some Collection<UInt8>) -> [ArraySlice<UInt8>] {
        Array(bytes).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
            .filter { $0.elementsEqual([UInt8(ascii: ".")]) == false }
    }

    private static func isDotDot(_ component: ArraySlice<UInt8>) -> Bool {
        component.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")])
    }

    private static func display(_ name: Name) -> String {
        String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func cName(_ bytes: ArraySlice<UInt8>) -> Name {
        bytes.map { CChar(bitPattern: $0) } + [0]
    }

    /// Relative, without "..": the only archive paths that cannot leave the destination.
    private static func safeComponents(_ bytes: [UInt8], entry: String, role: String = "path") throws -> [Name] {
        if bytes.first == UInt8(ascii: "/") {
            throw ArchiveError(.unsafeEntry, "refusing absolute \(role) in entry", path: entry)
        }
        let components = split(bytes)
        if components.contains(where: isDotDot) {
            throw ArchiveError(.unsafeEntry, "refusing '..' in \(role) of entry", path: entry)
        }
        return components.map(cName)
    }

    /// A symlink target is accepted when it is relative and is some leading ".." (no more than
    /// the link's depth) followed only by names. Judging "a/../b" would need to know whether
    /// "a" is itself a symlink, so such targets are refused rather than resolved lexically.
    private static func checkSymlinkTarget(_ target: [UInt8], linkDepth: Int, entry: String) throws {
        let shown = String(decoding: target, as: UTF8.self)
        if target.isEmpty || target.first == UInt8(ascii: "/") {
            throw ArchiveError(.unsafeEntry, "refusing symlink to '\(shown)' (empty or absolute target) in entry", path: entry)
        }
        var climbs = 0
        var seenName = false
        for component in split(target) {
            if isDotDot(component) {
                if seenName {
                    throw ArchiveError(.unsafeEntry, "refusing symlink to '\(shown)' ('..' after a name) in entry", path: entry)
                }
                climbs += 1
            } else {
                seenName = true
            }
        }
        if climbs > linkDepth {
            throw ArchiveError(.unsafeEntry, "refusing symlink to '\(shown)' (points outside the destination) in entry", path: entry)
        }
    }

    private static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0, errno != EEXIST {
                throw ArchiveError.system("cannot create extraction directory", path: current, errno: errno)
            }
        }
    }
}
