import CArchive
import Foundation

/// Writes an ISO 9660 image (optionally with Joliet and Rock Ridge names) from a list of
/// entries, for example an answer-file CD. The image appears at its destination only when
/// complete.
public struct ISOImageWriter: Sendable {
    /// One file or directory to place in the image.
    public struct Entry: Sendable, Equatable {
        /// Where the entry's contents come from.
        public enum Source: Sendable, Equatable {
            /// Bytes held in memory (small files such as autounattend.xml).
            case bytes(Data)
            /// A regular file on disk, streamed in chunks when the image is written.
            case file(URL)
            /// An empty directory; parents of other entries are created implicitly.
            case directory
        }

        /// Path inside the image, '/'-separated and relative ("sources/$OEM$/setup.cmd").
        public var path: String
        public var source: Source
        /// Rock Ridge permission bits; nil takes the source file's mode, or 0644 / 0755.
        public var permissions: mode_t?

        public init(path: String, source: Source, permissions: mode_t? = nil) {
            self.path = path
            self.source = source
            self.permissions = permissions
        }

        public static func bytes(_ data: Data, at path: String) -> Entry {
            Entry(path: path, source: .bytes(data))
        }

        public static func file(_ url: URL, at path: String) -> Entry {
            Entry(path: path, source: .file(url))
        }

        public static func directory(_ path: String) -> Entry {
            Entry(path: path, source: .directory)
        }
    }

    /// The primary volume identifier; always a valid ISO 9660 volume id (see `isValidVolumeLabel`).
    public let volumeLabel: String
    /// Joliet names: UTF-16, case preserved, up to 64 characters; what Windows reads.
    public var joliet: Bool
    /// Rock Ridge names and POSIX attributes; what Linux reads.
    public var rockRidge: Bool
    /// Mode of the finished image file.
    public var filePermissions: mode_t

    /// Fails with `.invalidArgument` for a label that is not a strict ISO 9660 volume id;
    /// use `normalizedVolumeLabel(_:)` first to accept arbitrary text.
    public init(volumeLabel: String, joliet: Bool = true, rockRidge: Bool = true, filePermissions: mode_t = 0o644) throws {
        guard Self.isValidVolumeLabel(volumeLabel) else {
            throw ArchiveError(
                .invalidArgument,
                "ISO volume label must be 1 to 32 characters from A-Z, 0-9 and _; got", path: volumeLabel)
        }
        self.volumeLabel = volumeLabel
        self.joliet = joliet
        self.rockRidge = rockRidge
        self.filePermissions = filePermissions
    }

    /// True for 1...32 ISO 9660 d-characters (A-Z, 0-9, _).
    public static func isValidVolumeLabel(_ label: String) -> Bool {
        (1...32).contains(label.utf8.count) && label.utf8.allSatisfy(isDCharacter)
    }

    /// Uppercases, replaces every other character with '_', and cuts to 32 characters, so
    /// "lcm answers-01" becomes "LCM_ANSWERS_01". An empty input yields "CDROM".
    public static func normalizedVolumeLabel(_ text: String) -> String {
        let mapped = text.uppercased().unicodeScalars.prefix(32).map { scalar -> Character in
            scalar.isASCII && isDCharacter(UInt8(scalar.value)) ? Character(scalar) : "_"
        }
        return mapped.isEmpty ? "CDROM" : String(mapped)
    }

    private static func isDCharacter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || byte == UInt8(ascii: "_")
    }

    /// Writes the image to `destination` (replacing an existing file). On any failure, such as
    /// a missing source file or destination directory, nothing is left at `destination`.
    public func write(_ entries: [Entry], to destination: URL) throws {
        try withUTF8Names { try writeImage(entries, to: destination) }
    }

    private func writeImage(_ entries: [Entry], to destination: URL) throws {
        // Validate every path first: a bad one should fail fast, before any data is copied.
        let paths = try entries.map { try EntryPath.normalized($0.path) }
        var seen = Set<String>()
        for path in paths where !seen.insert(path).inserted {
            throw ArchiveError(.invalidArgument, "duplicate ISO entry path", path: path)
        }
        // libarchive silently cuts longer Joliet names (losing the extension), and Windows
        // reads the Joliet names, so refuse instead.
        if joliet, let path = paths.first(where: { $0.split(separator: "/").contains { $0.utf16.count > 64 } }) {
            throw ArchiveError(.invalidArgument, "Joliet names are limited to 64 characters per path component", path: path)
        }

        let session = try WriteSession(destination: destination, permissions: filePermissions) { handle in
            guard archive_write_set_format_iso9660(handle) == ARCHIVE_OK else {
                throw ArchiveError.library(handle, "cannot select the ISO 9660 format")
            }
            try WriteSession.setFormatOption(handle, module: "iso9660", key: "volume-id", value: volumeLabel)
            try WriteSession.setFormatOption(handle, module: "iso9660", key: "joliet", value: joliet ? "1" : nil)
            try WriteSession.setFormatOption(handle, module: "iso9660", key: "rockridge", value: rockRidge ? "1" : nil)
        }
        do {
            let now = EntryPath.now()
            for (entry, path) in zip(entries, paths) {
                switch entry.source {
                case .bytes(let data):
                    try session.addBytes(data, entryPath: path, permissions: entry.permissions ?? 0o644, modificationTime: now)
                case .file(let url):
                    try session.addDiskFile(
                        source: url.path, entryPath: path, followSymlink: true, permissions: entry.permissions)
                case .directory:
                    try session.writeHeader(EntryHeader(
                        path: path, type: CARCHIVE_AE_IFDIR, permissions: entry.permissions ?? 0o755,
                        modificationTime: now))
                }
            }
            try session.finish()
        } catch {
            session.discard()
            throw error
        }
    }
}
