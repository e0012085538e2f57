import Foundation
import GRDB

/// Who is acting, recorded with every audit event: the OS user, the pid and the command line
/// with secret values redacted.
public struct AuditActor: Sendable {
    public var osUser: String
    public var pid: Int32
    public var command: String

    public init(osUser: String, pid: Int32, command: String) {
        self.osUser = osUser; self.pid = pid; self.command = command
    }

    /// Options whose value is secret: their values never reach the audit log.
    public static let secretOptions: Set<String> = ["--key", "--product-key", "--password", "--passphrase", "--secret"]

    public static func current(arguments: [String] = CommandLine.arguments) -> AuditActor {
        let user = getpwuid(geteuid()).flatMap { String(validatingCString: $0.pointee.pw_name) } ?? "uid \(geteuid())"
        return AuditActor(osUser: user, pid: getpid(), command: redact(arguments).joined(separator: " "))
    }

    /// Replaces the values of secret options, in both "--key VALUE" and "--key=VALUE" forms.
    public static func redact(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var hideNext = false
        for argument in arguments {
            if hideNext { result.append("<redacted>"); hideNext = false; continue }
            if let eq = argument.firstIndex(of: "="), secretOptions.contains(String(argument[..<eq])) {
                result.append("\(argument[..<eq])=<redacted>")
            } else {
                if secretOptions.contains(argument) { hideNext = true }
                result.append(argument)
            }
        }
        return result
    }
}

/// Writes audit events. Call it inside the same transaction as the change it describes,
/// so the log and the inventory never disagree.
public enum AuditLog {
    public static func record(_ db: Database, actor: AuditActor, objectKind: String, objectID: String,
                              action: String, outcome: String = "ok", details: [String: String] = [:]) throws {
        let detailText: String?
        if details.isEmpty {
            detailText = nil
        } else {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            detailText = String(decoding: try encoder.encode(details), as: UTF8.self)
        }
        var event = AuditEvent(time: Date(), osUser: actor.osUser, pid: actor.pid, command: actor.command,
                               objectKind: objectKind, objectID: objectID, action: action,
                               outcome: outcome, details: detailText)
        try event.insert(db)
    }
}
