import CArchive
import Foundation

/// Writes a tar archive (POSIX pax, "restricted": plain ustar headers unless a name or size
/// needs an extension), optionally gzip- or zstd-compressed. Entries are added one at a time;
/// `finish()` publishes the archive at its destination. A writer dropped or discarded before
/// `finish()` leaves nothing at the destination.
///
/// If an `add` method throws before anything reached the archive (an unreadable source file,
/// an invalid path), the writer stays usable. If it throws midway through an entry, the
/// archive is inconsistent: every later call, including `finish()`, rethrows that error.
public final class TarArchiveWriter {
    /// Compression filter applied to the whole tar stream.
    public enum Compression: Sendable, Equatable {
        case none
        case gzip
        case zstd
    }

    public let destination: URL
    public let compression: Compression
    private let session: WriteSession

    /// Starts a hidden temporary file beside `destination`. `filePermissions` defaults to 0600
    /// because backups of user data are private.
    public init(destination: URL, compression: Compression = .none, filePermissions: mode_t = 0o600) throws {
        self.destination = destination
        self.compression = compression
        session = try withUTF8Names { try Self.openSession(destination, compression, filePermissions) }
    }

    private static func openSession(_ destination: URL, _ compression: Compression, _ filePermissions: mode_t) throws -> WriteSession {
        try WriteSession(destination: destination, permissions: filePermissions) { handle in
            guard archive_write_set_format_pax_restricted(handle) == ARCHIVE_OK else {
                throw ArchiveError.library(handle, "cannot select the pax tar format")
            }
            let status: Int32
            switch compression {
            case .none: status = archive_write_add_filter_none(handle)
            case .gzip: status = archive_write_add_filter_gzip(handle)
            case .zstd: status = archive_write_add_filter_zstd(handle)
            }
            // ARCHIVE_WARN here means libarchive falls back to the external program, which still works.
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                throw ArchiveError.library(handle, "cannot enable \(compression) compression")
            }
        }
    }

    /// Adds a regular file from disk (following a symlink at `source`), streamed in chunks,
    /// keeping its permission bits, mtime and numeric owner.
    public func addFile(at source: URL, as path: String) throws {
        try withUTF8Names {
            try session.addDiskFile(source: source.path, entryPath: EntryPath.normalized(path), followSymlink: true)
        }
    }

    /// Adds a directory entry.
    public func addDirectory(_ path: String, permissions: mode_t = 0o755, modificationTime: Date? = nil) throws {
        try withUTF8Names {
            try session.writeHeader(EntryHeader(
                path: EntryPath.normalized(path), type: CARCHIVE_AE_IFDIR, permissions: permissions,
                modificationTime: modificationTime.map(EntryPath.time(from:)) ?? EntryPath.now()))
        }
    }

    /// Adds a regular file whose contents are `data`.
    public func addBytes(_ data: Data, as path: String, permissions: mode_t = 0o644, modificationTime: Date? = nil) throws {
        try withUTF8Names {
            try session.addBytes(
                data, entryPath: EntryPath.normalized(path), permissions: permissions,
                modificationTime: modificationTime.map(EntryPath.time(from:)) ?? EntryPath.now())
        }
    }

    /// Adds a symbolic link; the target is stored verbatim.
    public func addSymlink(_ path: String, target: String, modificationTime: Date? = nil) throws {
        try withUTF8Names {
            try session.writeHeader(EntryHeader(
                path: EntryPath.normalized(path), type: CARCHIVE_AE_IFLNK, permissions: 0o777,
                modificationTime: modificationTime.map(EntryPath.time(from:)) ?? EntryPath.now(), symlinkTarget: target))
        }
    }

    /// Adds everything below `directory`, recursively and in name order, with entry paths
    /// starting at `prefix` ("" puts the contents at the archive root). Regular files,
    /// directories and symlinks (stored as links, never followed) are archived; hard-linked
    /// files are stored as separate copies.
    ///
    /// - Returns: disk paths that were skipped: sockets, FIFOs, devices, and names or link
    ///   targets that are not valid UTF-8.
    @discardableResult
    public func addTree(directory: URL, under prefix: String) throws -> [String] {
        try withUTF8Names { try addTreeInUTF8(directory: directory, under: prefix) }
    }

    private func addTreeInUTF8(directory: URL, under prefix: String) throws -> [String] {
        let trimmed = prefix.split(separator: "/").filter { $0 != "." }
        let entryPrefix = trimmed.isEmpty ? "" : try EntryPath.normalized(prefix)
        let rootPath = directory.path
        let rootFD = open(rootPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw ArchiveError.system("cannot open directory", path: rootPath, errno: errno) }
        defer { close(rootFD) }
        if !entryPrefix.isEmpty {
            var info = stat()
            guard fstat(rootFD, &info) == 0 else { throw ArchiveError.system("cannot stat", path: rootPath, errno: errno) }
            try session.writeHeader(EntryHeader(
                path: entryPrefix, type: CARCHIVE_AE_IFDIR, permissions: info.st_mode,
                modificationTime: info.st_mtim, owner: info.st_uid, group: info.st_gid))
        }
        var skipped: [String] = []
        try addContents(of: rootFD, diskPath: rootPath, entryPrefix: entryPrefix, skipped: &skipped)
        return skipped
    }

    /// Publishes the archive at `destination`. The writer cannot be used afterwards.
    public func finish() throws {
        try withUTF8Names { try session.finish() }
    }

    /// Abandons the archive: the temporary file is deleted and `destination` is untouched.
    public func discard() {
        session.discard()
    }

    // Walks with openat/fstatat relative to open directory descriptors, so a directory
    // swapped for a symlink during the walk cannot redirect it elsewhere.
    private func addContents(of directoryFD: Int32, diskPath: String, entryPrefix: String, skipped: inout [String]) throws {
        for name in try Self.names(in: directoryFD, diskPath: diskPath, skipped: &skipped) {
            let childDiskPath = diskPath + "/" + name
            let entryPath = entryPrefix.isEmpty ? name : entryPrefix + "/" + name
            var info = stat()
            guard fstatat(directoryFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw ArchiveError.system("cannot stat", path: childDiskPath, errno: errno)
            }
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                try session.addDiskFile(
                    source: name, entryPath: entryPath, followSymlink: false, directoryFD: directoryFD,
                    displayPath: childDiskPath)
            case S_IFDIR:
                let childFD = openat(directoryFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard childFD >= 0 else {
                    throw ArchiveError.system("cannot open directory", path: childDiskPath, errno: errno)
                }
                defer { close(childFD) }
                try session.writeHeader(EntryHeader(
                    path: entryPath, type: CARCHIVE_AE_IFDIR, permissions: info.st_mode,
                    modificationTime: info.st_mtim, owner: info.st_uid, group: info.st_gid))
                try addContents(of: childFD, diskPath: childDiskPath, entryPrefix: entryPath, skipped: &skipped)
            case S_IFLNK:
                guard let target = try Self.linkTarget(directoryFD, name, diskPath: childDiskPath) else {
                    skipped.append(childDiskPath)
                    continue
                }
                try session.writeHeader(EntryHeader(
                    path: entryPath, type: CARCHIVE_AE_IFLNK, permissions: 0o777,
                    modificationTime: info.st_mtim, owner: info.st_uid, group: info.st_gid, symlinkTarget: target))
            default:
                skipped.append(childDiskPath)
            }
        }
    }

    /// Sorted UTF-8 names in a directory; others go to `skipped`.
    private static func names(in directoryFD: Int32, diskPath: String, skipped: inout [String]) throws -> [String] {
        let listFD = dup(directoryFD)  // closedir closes the descriptor it was given
        guard listFD >= 0, let stream = fdopendir(listFD) else {
            let error = ArchiveError.system("cannot list directory", path: diskPath, errno: errno)
            if listFD >= 0 { close(listFD) }
            throw error
        }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw ArchiveError.system("cannot list directory", path: diskPath, errno: errno) }
                break
            }
            var rawName = entry.pointee.d_name
            let bytes = withUnsafeBytes(of: &rawName) { Array($0.prefix { $0 != 0 }) }
            if bytes == [UInt8(ascii: ".")] || bytes == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            if let name = String(validating: bytes, as: UTF8.self) {
                names.append(name)
            } else {
                skipped.append(diskPath + "/" + String(decoding: bytes, as: UTF8.self))
            }
        }
        return names.sorted()
    }

    /// The target of a symlink, or nil if it is not valid UTF-8.
    private static func linkTarget(_ directoryFD: Int32, _ name: String, diskPath: String) throws -> String? {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(directoryFD, name, &buffer, buffer.count)
        guard length >= 0 else { throw ArchiveError.system("cannot read symlink", path: diskPath, errno: errno) }
        return String(validating: buffer[..<length], as: UTF8.self)
    }
}
