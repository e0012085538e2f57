import CArchive
import Foundation

/// The one error type of the Archive module: what failed, on which file or entry, and the
/// underlying libarchive message or errno.
public struct ArchiveError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Broad cause, for callers that react differently to bad input and unsafe input.
    public enum Code: Sendable, Equatable {
        /// libarchive refused: unknown format, corrupt or truncated data, a failed write.
        case library
        /// A system call failed (open, read, rename, ...); `errno` says why.
        case system
        /// An entry would land outside the extraction directory or pass through a symlink.
        case unsafeEntry
        /// An entry type that extraction does not create (devices, sockets, FIFOs).
        case unsupportedEntry
        /// A value passed by the caller is invalid (volume label, entry path, call order).
        case invalidArgument
    }

    public let code: Code
    /// What was being done, as a sentence fragment ("cannot read header").
    public let message: String
    /// The file on disk or the entry inside the archive concerned, if any.
    public let path: String?
    /// libarchive's archive_errno() or the errno of the failed system call, if one was set.
    public let errno: Int32?
    /// libarchive's archive_error_string() or strerror(errno), if any.
    public let detail: String?

    public init(_ code: Code, _ message: String, path: String? = nil, errno: Int32? = nil, detail: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = message
        if let path { text += " '\(path)'" }
        if let detail, !detail.isEmpty { text += ": \(detail)" }
        return text
    }

    /// Captures the current error state of a libarchive handle.
    static func library(_ archive: OpaquePointer?, _ message: String, path: String? = nil) -> ArchiveError {
        guard let archive else { return ArchiveError(.library, message, path: path) }
        let number = archive_errno(archive)
        let detail = archive_error_string(archive).map { String(cString: $0) }
        return ArchiveError(.library, message, path: path, errno: number == 0 ? nil : number, detail: detail)
    }

    /// Captures the calling thread's errno after a failed system call.
    static func system(_ message: String, path: String? = nil, errno number: Int32) -> ArchiveError {
        ArchiveError(.system, message, path: path, errno: number, detail: String(cString: strerror(number)))
    }
}

extension ArchiveError: LocalizedError {
    public var errorDescription: String? { description }
}
