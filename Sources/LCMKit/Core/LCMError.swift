import Foundation

/// The one error type users see: a sentence naming the problem, a hint saying what to do,
/// and the documented exit code. Typed errors from the layers below are translated into it
/// at the edge (see `LCMError.from`).
public struct LCMError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var code: LCMExitCode
    public var message: String
    public var hint: String?

    public init(_ code: LCMExitCode, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    public var description: String {
        if let hint { return "\(message) (\(hint))" }
        return message
    }
    public var errorDescription: String? { description }

    /// Why a file operation failed, in the system's words ("Permission denied", "No space left on
    /// device"), not Foundation's ("NSCocoaErrorDomain error 256", "You don't have permission").
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let lcm = error as? LCMError { return lcm.message }
        if ns.domain == NSCocoaErrorDomain {
            // Foundation on Linux drops the errno for these; the system's words are clearer.
            let errno: Int32? = switch CocoaError.Code(rawValue: ns.code) {
            case .fileWriteOutOfSpace: ENOSPC
            case .fileReadNoPermission, .fileWriteNoPermission: EACCES
            case .fileNoSuchFile, .fileReadNoSuchFile: ENOENT
            case .fileWriteVolumeReadOnly: EROFS
            case .fileReadTooLarge: EFBIG
            default: nil
            }
            if let errno { return String(cString: strerror(errno)) }
        }
        return ns.localizedDescription
    }

    public static func notFound(_ what: String, hint: String? = nil) -> LCMError {
        LCMError(.notFound, "\(what) not found", hint: hint)
    }
}
