import CArchive
import Foundation

/// Reads an archive file in any format and compression libarchive recognises (tar with gzip,
/// zstd, xz, ...; zip; ISO 9660; cpio; 7-Zip), one entry at a time, and extracts it safely.
///
/// The libarchive handle is released by `close()` or when the reader is deinitialized.
/// An empty file reads as an archive with no entries; any other unrecognised or damaged
/// input throws `ArchiveError` with code `.library`.
public final class ArchiveReader {
    public let source: URL
    private var archive: OpaquePointer?
    /// Owned by libarchive and valid only until the next header is read.
    private var currentEntry: OpaquePointer?
    private var currentPath: String?

    public init(contentsOf url: URL, blockSize: Int = 64 * 1024) throws {
        source = url
        try withUTF8Names { try open(blockSize: blockSize) }
    }

    private func open(blockSize: Int) throws {
        let url = source
        guard let handle = archive_read_new() else {
            throw ArchiveError(.library, "cannot allocate a libarchive read handle")
        }
        archive = handle
        archive_read_support_format_all(handle)
        archive_read_support_filter_all(handle)
        guard archive_read_open_filename(handle, url.path, blockSize) == ARCHIVE_OK else {
            let error = ArchiveError.library(handle, "cannot open archive", path: url.path)
            close()
            throw error
        }
    }

    deinit { close() }

    /// Releases the libarchive handle and the file; later calls throw.
    public func close() {
        if let archive { archive_read_free(archive) }
        archive = nil
        currentEntry = nil
    }

    /// Advances to the next entry, skipping any unread data of the current one;
    /// nil at the end of the archive.
    public func nextEntry() throws -> ArchiveEntry? {
        try withUTF8Names { try nextRawEntry().map(ArchiveEntry.init) }
    }

    /// Calls `body` with consecutive chunks of the current entry's data (holes in sparse files
    /// arrive as zeros). The buffer is only valid during the call.
    public func readData(chunkSize: Int = 64 * 1024, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let handle = try openHandle()
        guard currentEntry != nil else {
            throw ArchiveError(.invalidArgument, "no current entry: call nextEntry() first", path: source.path)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(chunkSize, 512), alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = archive_read_data(handle, buffer.baseAddress, buffer.count)
            if count == 0 { return }
            if count == ARCHIVE_RETRY { continue }
            // ARCHIVE_WARN counts as failure here: zip, for one, reports a CRC mismatch with it.
            guard count > 0 else {
                throw ArchiveError.library(handle, "cannot read data of entry", path: currentPath)
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// The current entry's data in memory; for small entries.
    public func readData() throws -> Data {
        var data = Data()
        try readData { data.append(contentsOf: $0) }
        return data
    }

    /// Extracts every entry not yet returned by `nextEntry()` below `directory`, creating it
    /// and any parents as needed. Existing files are replaced; existing symlinks are never
    /// followed, only replaced.
    ///
    /// Refused with `.unsafeEntry`: absolute paths, paths with a ".." component, paths that
    /// pass through a symlink, symlinks whose target is absolute or climbs above `directory`
    /// (or uses ".." after a name, which a symlink could redirect), and hard links to
    /// anything but an earlier archive path. Devices, FIFOs and sockets throw
    /// `.unsupportedEntry`. Extraction stops at the first refused or failing entry: the
    /// entries before it stay on disk (permission bits and mtimes of their directories are
    /// then not yet applied), a file whose data failed to read is removed, and nothing after
    /// it is written.
    ///
    /// Permission bits are restored without setuid, setgid and sticky; owners are not restored.
    ///
    /// - Returns: the extracted entries, in archive order.
    @discardableResult
    public func extractAll(to directory: URL) throws -> [ArchiveEntry] {
        try withUTF8Names { try extractRemaining(to: directory) }
    }

    private func extractRemaining(to directory: URL) throws -> [ArchiveEntry] {
        let handle = try openHandle()
        let extractor = try SafeExtractor(destination: directory)
        var extracted: [ArchiveEntry] = []
        while let entry = try nextRawEntry() {
            let info = ArchiveEntry(entry)
            try extractor.extract(entry, info, from: handle)
            extracted.append(info)
        }
        try extractor.applyDirectoryAttributes()
        return extracted
    }

    private func openHandle() throws -> OpaquePointer {
        guard let archive else {
            throw ArchiveError(.invalidArgument, "archive reader is closed", path: source.path)
        }
        return archive
    }

    private func nextRawEntry() throws -> OpaquePointer? {
        let handle = try openHandle()
        currentEntry = nil
        currentPath = nil
        var entry: OpaquePointer?
        var retries = 0
        while true {
            let status = archive_read_next_header(handle, &entry)
            switch status {
            case ARCHIVE_OK, ARCHIVE_WARN:
                // WARN is accepted for headers: it flags lossy name conversions or unknown
                // extended attributes, not damaged data.
                currentEntry = entry
                currentPath = entry.flatMap(RawEntryNames.path).map(RawEntryNames.string)
                return entry
            case ARCHIVE_EOF:
                return nil
            case ARCHIVE_RETRY where retries < 3:
                retries += 1
            default:
                throw ArchiveError.library(handle, "cannot read the next entry header of", path: source.path)
            }
        }
    }
}
