import CArchive
import Foundation

/// Metadata of one entry about to be written.
struct EntryHeader {
    var path: String
    var type: UInt32
    var permissions: mode_t
    var size: Int64 = 0
    var modificationTime: timespec
    var owner: uid_t = 0
    var group: gid_t = 0
    var symlinkTarget: String? = nil
}

/// One libarchive write handle writing into an `AtomicOutputFile`. The handle and the temporary
/// file are released by `finish()`, `discard()` or, failing both, deinit.
final class WriteSession {
    let destination: String
    private var archive: OpaquePointer?
    private var output: AtomicOutputFile?
    /// Set once an error happened after bytes reached the archive: it can no longer be finished.
    private var failure: ArchiveError?

    static let chunkSize = 256 * 1024

    init(destination url: URL, permissions: mode_t, configure: (OpaquePointer) throws -> Void) throws {
        destination = url.path
        guard let handle = archive_write_new() else {
            throw ArchiveError(.library, "cannot allocate a libarchive write handle")
        }
        archive = handle
        do {
            try configure(handle)
            let file = try AtomicOutputFile(destination: url, permissions: permissions)
            output = file
            // archive_write_open_fd leaves the descriptor to us, so AtomicOutputFile stays its owner.
            guard archive_write_open_fd(handle, file.fd) == ARCHIVE_OK else {
                throw ArchiveError.library(handle, "cannot start writing", path: destination)
            }
        } catch {
            discard()
            throw error
        }
    }

    /// Sets a format option (a nil value turns a boolean option off).
    static func setFormatOption(_ handle: OpaquePointer, module: String, key: String, value: String?) throws {
        let status = archive_write_set_format_option(handle, module, key, value)
        guard status == ARCHIVE_OK else {
            throw ArchiveError.library(handle, "cannot set archive option \(module):\(key)")
        }
    }

    private func usableHandle() throws -> OpaquePointer {
        if let failure { throw failure }
        guard let archive else {
            throw ArchiveError(.invalidArgument, "archive already finished or discarded", path: destination)
        }
        return archive
    }

    /// Records an error that left the archive inconsistent, so `finish()` refuses to publish it.
    private func poison(_ error: ArchiveError) -> ArchiveError {
        if failure == nil { failure = error }
        return error
    }

    func writeHeader(_ header: EntryHeader) throws {
        let handle = try usableHandle()
        guard let entry = archive_entry_new() else {
            throw ArchiveError(.library, "cannot allocate an archive entry", path: header.path)
        }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname_utf8(entry, header.path)
        archive_entry_set_filetype(entry, header.type)
        archive_entry_set_perm(entry, header.permissions & 0o7777)
        archive_entry_set_uid(entry, la_int64_t(header.owner))
        archive_entry_set_gid(entry, la_int64_t(header.group))
        archive_entry_set_mtime(entry, header.modificationTime.tv_sec, header.modificationTime.tv_nsec)
        if header.type == CARCHIVE_AE_IFREG {
            archive_entry_set_size(entry, header.size)
        }
        if let target = header.symlinkTarget {
            archive_entry_set_symlink_utf8(entry, target)
        }
        // Writers read names back in the locale's encoding; a name that cannot be converted
        // would be mangled (or crash the pax writer), so stop here.
        guard archive_entry_pathname(entry) != nil, header.symlinkTarget == nil || archive_entry_symlink(entry) != nil else {
            throw ArchiveError(.invalidArgument, "entry name cannot be encoded in the current locale", path: header.path)
        }
        // ARCHIVE_WARN is treated as failure too: the ISO writer, for one, warns and then drops
        // the entry, and an archive missing files must not look like a success.
        guard archive_write_header(handle, entry) == ARCHIVE_OK else {
            throw poison(.library(handle, "cannot write header of entry", path: header.path))
        }
    }

    func writeData(_ buffer: UnsafeRawBufferPointer, path: String) throws {
        let handle = try usableHandle()
        var offset = 0
        while offset < buffer.count {
            let written = archive_write_data(handle, buffer.baseAddress! + offset, buffer.count - offset)
            guard written > 0 else {
                throw poison(.library(handle, "cannot write data of entry", path: path))
            }
            offset += written
        }
    }

    /// Copies exactly `size` bytes from `fd` in fixed-size chunks, so large files never sit in memory.
    func streamData(from fd: Int32, size: Int64, sourcePath: String, entryPath: String) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var remaining = size
        while remaining > 0 {
            let wanted = Int(min(Int64(buffer.count), remaining))
            let got = read(fd, buffer.baseAddress!, wanted)
            if got < 0 {
                if errno == EINTR { continue }
                throw poison(.system("cannot read", path: sourcePath, errno: errno))
            }
            if got == 0 {
                // The header already promised `size` bytes; a shorter file would be padded silently.
                throw poison(ArchiveError(.system, "file shrank while being archived", path: sourcePath))
            }
            try writeData(UnsafeRawBufferPointer(rebasing: buffer[0..<got]), path: entryPath)
            remaining -= Int64(got)
        }
    }

    /// Writes a regular file from disk: opens it, takes size, mode and mtime from the open
    /// descriptor (so they match the bytes read), and streams the contents.
    func addDiskFile(
        source: String, entryPath: String, followSymlink: Bool, permissions: mode_t? = nil,
        directoryFD: Int32 = AT_FDCWD, displayPath: String? = nil
    ) throws {
        let shownPath = displayPath ?? source
        let flags = O_RDONLY | O_CLOEXEC | (followSymlink ? 0 : O_NOFOLLOW)
        let fd = openat(directoryFD, source, flags)
        guard fd >= 0 else { throw ArchiveError.system("cannot open", path: shownPath, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ArchiveError.system("cannot stat", path: shownPath, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw ArchiveError(.invalidArgument, "not a regular file", path: shownPath)
        }
        try writeHeader(EntryHeader(
            path: entryPath, type: CARCHIVE_AE_IFREG, permissions: permissions ?? info.st_mode,
            size: Int64(info.st_size), modificationTime: info.st_mtim, owner: info.st_uid, group: info.st_gid))
        try streamData(from: fd, size: Int64(info.st_size), sourcePath: shownPath, entryPath: entryPath)
    }

    func addBytes(_ data: Data, entryPath: String, permissions: mode_t, modificationTime: timespec) throws {
        try writeHeader(EntryHeader(
            path: entryPath, type: CARCHIVE_AE_IFREG, permissions: permissions, size: Int64(data.count),
            modificationTime: modificationTime))
        try data.withUnsafeBytes { try writeData($0, path: entryPath) }
    }

    /// Closes the archive (the ISO writer lays out the whole image here), then publishes the file.
    func finish() throws {
        let handle = try usableHandle()
        guard archive_write_close(handle) == ARCHIVE_OK else {
            let error = ArchiveError.library(handle, "cannot finish writing", path: destination)
            discard()
            throw error
        }
        archive_write_free(handle)
        archive = nil
        defer { output = nil }
        try output?.commit()
    }

    func discard() {
        if let archive {
            // Without archive_write_fail, archive_write_free would close and flush a complete-looking
            // archive (for ISO: lay out the whole image) into a file we are about to delete.
            archive_write_fail(archive)
            archive_write_free(archive)
        }
        archive = nil
        output?.discard()
        output = nil
    }

    deinit { discard() }
}

/// Entry paths inside archives are relative, '/'-separated, and never climb with "..".
enum EntryPath {
    static func normalized(_ path: String) throws -> String {
        if path.hasPrefix("/") {
            throw ArchiveError(.invalidArgument, "entry path must be relative", path: path)
        }
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if components.contains("..") {
            throw ArchiveError(.invalidArgument, "entry path must not contain '..'", path: path)
        }
        if components.isEmpty {
            throw ArchiveError(.invalidArgument, "entry path is empty", path: path)
        }
        return components.joined(separator: "/")
    }

    static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return time
    }

    static func time(from date: Date) -> timespec {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        return timespec(tv_sec: Int(seconds), tv_nsec: Int((date.timeIntervalSince1970 - seconds) * 1e9))
    }
}
