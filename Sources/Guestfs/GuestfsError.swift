import Foundation

/// A failed libguestfs call: which operation, libguestfs's own message, and its errno.
///
/// libguestfs never prints these itself (the session removes its stderr error handler);
/// every failure reaches the caller as this value.
public struct GuestfsError: Error, CustomStringConvertible, LocalizedError, Sendable, Equatable {
    /// The libguestfs call that failed, e.g. `"mount"` or `"add_drive"`.
    public let operation: String
    /// The message from `guestfs_last_error`, or a description of the wrapper's own failure.
    public let message: String
    /// `guestfs_last_errno` (0 when libguestfs did not capture an errno).
    public let errno: Int32

    public init(operation: String, message: String, errno: Int32 = 0) {
        self.operation = operation
        self.message = message
        self.errno = errno
    }

    public var description: String {
        errno == 0 ? "\(operation): \(message)" : "\(operation): \(message) (errno \(errno))"
    }

    public var errorDescription: String? { description }
}
