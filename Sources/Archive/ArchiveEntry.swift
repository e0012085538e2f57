import CArchive
import Foundation

/// Metadata of one entry read from an archive.
public struct ArchiveEntry: Sendable, Hashable {
    /// What kind of filesystem object the entry describes.
    public enum Kind: Sendable, Hashable {
        case regularFile
        case directory
        case symbolicLink
        /// Another name for an earlier entry (`hardlinkTarget`); carries no data of its own in tar.
        case hardLink
        case fifo
        case characterDevice
        case blockDevice
        case socket
        case unknown
    }

    /// Path inside the archive, as stored (may be absolute or contain ".." in hostile archives).
    public var path: String
    public var kind: Kind
    /// Size of the entry's data in bytes, when the format records one.
    public var size: Int64?
    /// Permission bits (including setuid, setgid and sticky).
    public var permissions: mode_t
    public var modificationTime: Date?
    public var symlinkTarget: String?
    public var hardlinkTarget: String?

    public init(
        path: String, kind: Kind, size: Int64? = nil, permissions: mode_t = 0, modificationTime: Date? = nil,
        symlinkTarget: String? = nil, hardlinkTarget: String? = nil
    ) {
        self.path = path
        self.kind = kind
        self.size = size
        self.permissions = permissions
        self.modificationTime = modificationTime
        self.symlinkTarget = symlinkTarget
        self.hardlinkTarget = hardlinkTarget
    }

    init(_ entry: OpaquePointer) {
        let hardlink = RawEntryNames.hardlink(entry)
        let kind: Kind
        if hardlink != nil {
            kind = .hardLink
        } else {
            switch UInt32(archive_entry_filetype(entry)) {
            case CARCHIVE_AE_IFREG: kind = .regularFile
            case CARCHIVE_AE_IFDIR: kind = .directory
            case CARCHIVE_AE_IFLNK: kind = .symbolicLink
            case CARCHIVE_AE_IFIFO: kind = .fifo
            case CARCHIVE_AE_IFCHR: kind = .characterDevice
            case CARCHIVE_AE_IFBLK: kind = .blockDevice
            case CARCHIVE_AE_IFSOCK: kind = .socket
            default: kind = .unknown
            }
        }
        self.init(
            path: RawEntryNames.string(RawEntryNames.path(entry) ?? []),
            kind: kind,
            size: archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : nil,
            permissions: mode_t(archive_entry_perm(entry)),
            modificationTime: archive_entry_mtime_is_set(entry) != 0
                ? Date(timeIntervalSince1970: TimeInterval(archive_entry_mtime(entry))
                    + TimeInterval(archive_entry_mtime_nsec(entry)) / 1e9)
                : nil,
            symlinkTarget: kind == .symbolicLink ? RawEntryNames.symlink(entry).map(RawEntryNames.string) : nil,
            hardlinkTarget: hardlink.map(RawEntryNames.string))
    }
}

/// Entry names as bytes. The UTF-8 form is preferred; the locale form is the fallback because
/// in the C locale (a Swift program's default) libarchive cannot always produce UTF-8.
enum RawEntryNames {
    static func path(_ entry: OpaquePointer) -> [UInt8]? {
        bytes(archive_entry_pathname_utf8(entry) ?? archive_entry_pathname(entry))
    }

    static func symlink(_ entry: OpaquePointer) -> [UInt8]? {
        bytes(archive_entry_symlink_utf8(entry) ?? archive_entry_symlink(entry))
    }

    static func hardlink(_ entry: OpaquePointer) -> [UInt8]? {
        bytes(archive_entry_hardlink_utf8(entry) ?? archive_entry_hardlink(entry))
    }

    static func string(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    private static func bytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8]? {
        guard let pointer else { return nil }
        return Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }
    }
}
