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

    public static func notFound(_ what: String, hint: String? = nil) -> LCMError {
        LCMError(.notFound, "\(what) not found", hint: hint)
    }
}
