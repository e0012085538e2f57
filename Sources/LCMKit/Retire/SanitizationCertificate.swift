import Crypto
import Foundation

/// A sanitization certificate: the fields of the NIST SP 800-88 Rev. 1 sample certificate
/// (Appendix G) plus the evidence behind them, chained to the previous certificate of the same
/// lcm home and signed with the home's Ed25519 key.
///
/// The file is the canonical JSON encoding of a `SignedCertificate` (sorted keys, pretty
/// printed), so any changed byte either breaks the signature or the canonical form. Only
/// integers and strings are signed (no floating point whose printing could vary).
public struct SanitizationCertificate: Codable, Sendable, Equatable {
    public enum Subject: String, Codable, Sendable { case desktop, device }
    /// What the evidence supports (NIST SP 800-88 categories).
    public enum Level: String, Codable, Sendable, Comparable {
        case purge = "Purge", clear = "Clear", none = "None"

        private var rank: Int { self == .none ? 0 : self == .clear ? 1 : 2 }
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }

    public var format = "lcm-sanitization-certificate/1"
    /// Position in this home's chain (1, 2, ...) and the SHA-256 of the previous certificate's
    /// file (64 zeros for the first).
    public var sequence: Int
    public var previousSHA256: String
    public var issued: String

    // NIST sample fields.
    public var personPerformingSanitization: Person
    public var mediaInformation: Media
    public var sanitizationDetails: Details
    public var personValidating: Person?

    // Evidence.
    public var files: [FileEvidence]
    public var keyCopies: [KeyCopyEvidence]
    public var claim: Level
    public var claimReasons: [String]
    public var residualRisk: [String]
    /// Where the desktop's data may be that lcm did not sanitize (a recorded volume missing from
    /// the pool, a disk that is no file, a backing file outside lcm's records, a link where a
    /// file was expected): each keeps the claim at None. Absent in certificates issued before
    /// lcm looked for them.
    public var notSanitized: [NotSanitized]? = nil

    /// Something the subject's data may be in that lcm did not sanitize, and why.
    public struct NotSanitized: Codable, Sendable, Equatable {
        public var item: String
        public var reason: String

        public init(item: String, reason: String) {
            self.item = item
            self.reason = reason
        }
    }

    /// How far a piece of evidence lets a claim go, and why.
    public struct ClaimLimit: Sendable, Equatable {
        /// The highest claim this evidence allows (None or Clear).
        public var atMost: Level
        public var reason: String
    }

    /// File roles that hold no user data (firmware variables, logs): left unencrypted, they do
    /// not lower a claim of Purge.
    static let rolesWithoutUserData: Set<String> = ["nvram", "qemu-log", "swtpm-log"]

    /// The rules a desktop's evidence sets on its claim (docs/RETIRE.md, "What the claim rests
    /// on"): the one function both issuing and verifying use, so an issued claim and a checked
    /// one cannot drift apart. The issuer adds what only its run knows (passes left unwritten,
    /// keyslots not erased, key files only unlinked, a rotated log).
    static func desktopClaimLimits(files: [FileEvidence], keyCopies: [KeyCopyEvidence], notSanitized: [NotSanitized]) -> [ClaimLimit] {
        var limits: [ClaimLimit] = []
        func none(_ reason: String) { limits.append(.init(atMost: .none, reason: reason)) }
        func clear(_ reason: String) { limits.append(.init(atMost: .clear, reason: reason)) }
        for item in notSanitized { none("\(item.item) was not sanitized by lcm: \(item.reason)") }
        if files.isEmpty { none("there is no file evidence") }
        for file in files {
            if !file.errors.isEmpty { none("\(file.path) recorded errors: \(file.errors.joined(separator: "; "))") }
            // Byte counts can be 0 for an empty file: whether it was read back is in its verification.
            if !Overwriter.Coverage.allCases.contains(where: { file.verification.hasPrefix($0.rawValue) }) {
                none("\(file.path) was not read back (\(file.verification))")
            } else if !file.verification.hasSuffix(" 0 differing") {
                none("\(file.path) did not read back as written (\(file.verification))")
            } else if !file.verification.hasPrefix(Overwriter.Coverage.full.rawValue) {
                clear("\(file.path) was only sampled, not fully verified (\(file.verification))")
            }
            if !file.encrypted, !rolesWithoutUserData.contains(file.role) {
                clear("\(file.role) \(file.path) was not encrypted: an overwrite through the host filesystem is Clear")
            }
            if file.passes == 0 { clear("no pass was written over \(file.path) (verify-only: the claim rests on an earlier wipe)") }
            if file.hostFilesystem.contains("copy-on-write") {
                clear("\(file.path) lies on a copy-on-write filesystem: old blocks may survive an overwrite")
            }
        }
        for copy in keyCopies where !copy.destroyed {
            none("key copy \(copy.kind) \(copy.location) was not destroyed: \(copy.how)")
        }
        return limits
    }

    public struct Person: Codable, Sendable, Equatable {
        public var name: String
        public var title: String?
        public var organization: String?
        public var location: String?
    }

    public struct Media: Codable, Sendable, Equatable {
        public var subject: Subject
        /// Desktop name or device asset tag.
        public var name: String
        public var makeModel: String?
        public var serialNumber: String?
        /// "virtual disk files on a client hypervisor" or the device's own storage.
        public var mediaType: String
        public var source: String?
        public var dataClassification: String?
        /// For a device: whether its own storage was sanitized, and by what (`--host-sanitized-by`).
        public var hostStorageSanitized: Bool?
        public var hostStorageEvidence: String?
    }

    public struct Details: Codable, Sendable, Equatable {
        public var methodType: Level
        public var methodUsed: String
        public var methodDetails: String
        public var toolUsed: String
        public var verificationMethod: String
        public var postSanitizationDestination: String?
        public var reason: String?
        public var start: String
        public var end: String
    }

    public struct FileEvidence: Codable, Sendable, Equatable {
        /// os, os-layer, data, nvram, tpm, snapshot, backup.
        public var role: String
        public var path: String
        public var host: String
        public var virtualBytes: UInt64?
        public var allocatedBytes: UInt64?
        public var hostFilesystem: String
        public var discardEnabled: Bool?
        public var encrypted: Bool
        public var method: String
        public var passes: Int
        public var generator: String
        public var route: String
        public var bytesWritten: UInt64
        public var bytesVerified: UInt64
        public var verification: String
        public var start: String
        public var end: String
        public var errors: [String]
        public var notes: [String] = []
    }

    public struct KeyCopyEvidence: Codable, Sendable, Equatable {
        /// libvirt secret, secret file on the host, escrow row, temporary file, LUKS keyslots.
        public var kind: String
        public var location: String
        public var destroyed: Bool
        public var how: String
        public var at: String?
    }
}

/// A certificate with its signature: what the file holds.
public struct SignedCertificate: Codable, Sendable, Equatable {
    public var certificate: SanitizationCertificate
    public var signature: Signature

    public struct Signature: Codable, Sendable, Equatable {
        public var algorithm = "Ed25519"
        /// The signer's public key (raw 32 bytes, base64) and its SHA-256 fingerprint (hex).
        public var publicKey: String
        public var keyFingerprint: String
        /// Over the canonical encoding of `certificate`.
        public var value: String
    }

    /// The one byte form a certificate file may have.
    public static func canonical<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0a)
        return data
    }
}
