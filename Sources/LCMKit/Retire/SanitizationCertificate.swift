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

/// The home's certificate-signing key: Ed25519, created on first use, private half readable by
/// the owner only.
public struct CertificateSigningKey {
    public let privateKey: Curve25519.Signing.PrivateKey

    public static func url(home: LCMHome) -> URL { home.url.appendingPathComponent("keys/certificate-signing.key") }

    /// The home's key, created (0600, in a 0700 directory) when there is none yet. Like the master
    /// key, a key file another user owns or may read is refused: whoever can read it can sign a
    /// certificate, and whoever can replace it can make lcm sign with their key.
    public static func load(home: LCMHome, create: Bool = true) throws -> CertificateSigningKey? {
        let url = url(home: home)
        if let contents = try PrivateKeyFile.read(
            url, what: "the certificate-signing key", limit: 256, code: .dataError,
            exposedHint: "anyone who read it can sign certificates: compare the chain with your hash log",
            replacedHint: "restore the key file itself from your backup of the lcm home; if you did not change it, treat certificates signed since as suspect") {
            guard let raw = Data(base64Encoded: String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
                  let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
                throw LCMError(.dataError, "\(url.path) is not an Ed25519 private key", hint: "restore it from your backup of the lcm home")
            }
            return CertificateSigningKey(privateKey: key)
        }
        guard create else { return nil }
        try home.prepare()
        let directory = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = Curve25519.Signing.PrivateKey()
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LCMError(.cannotWrite, "cannot create \(url.path): \(String(cString: strerror(errno)))") }
        let text = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == text.count, synced else {
            unlink(url.path)
            throw LCMError(.cannotWrite, "cannot write \(url.path)")
        }
        return CertificateSigningKey(privateKey: key)
    }

    public var publicKeyBase64: String { privateKey.publicKey.rawRepresentation.base64EncodedString() }
    public var publicKey: Data { privateKey.publicKey.rawRepresentation }

    public static func fingerprint(publicKey: Data) -> String { CertificatePublicKey.fingerprint(publicKey) }

    public func sign(_ certificate: SanitizationCertificate) throws -> Data {
        let body = try SignedCertificate.canonical(certificate)
        let signature = try privateKey.signature(for: body)
        let publicKey = privateKey.publicKey.rawRepresentation
        return try SignedCertificate.canonical(SignedCertificate(
            certificate: certificate,
            signature: .init(publicKey: publicKey.base64EncodedString(), keyFingerprint: Self.fingerprint(publicKey: publicKey),
                             value: signature.base64EncodedString())))
    }
}

/// Checks certificate files against a trust anchor: canonical form, signature, signer, the
/// claim against its evidence, and the chain between them.
public enum CertificateVerifier {
    public struct FileResult: Codable, Sendable, Equatable {
        public var path: String
        public var sequence: Int?
        public var subject: String?
        public var claim: String?
        public var sha256: String
        /// The fingerprint of the key that signed it, whether trusted or not.
        public var signer: String?
        public var problems: [String]
        public var valid: Bool { problems.isEmpty }
    }

    public struct Report: Codable, Sendable, Equatable {
        public var trustedKey: CertificateTrustAnchor
        public var files: [FileResult]
        /// Breaks in the chain: a missing certificate, a reordered or replaced one.
        public var chainProblems: [String]
        public var valid: Bool { chainProblems.isEmpty && files.allSatisfy(\.valid) }
    }

    public static let firstPrevious = String(repeating: "0", count: 64)

    /// Verifies `paths`: each must be signed by the key `trust` names. `recorded` is the chain the
    /// inventory holds (sequence → SHA-256) and `hashLog` the hashes appended outside the home
    /// (sequence → hashes), to find certificates left out, replaced or re-signed.
    public static func verify(paths: [String], trust: CertificateTrustAnchor, recorded: [Int: String] = [:],
                              hashLog: [Int: Set<String>]? = nil) -> Report {
        var results: [(FileResult, SanitizationCertificate?)] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                results.append((FileResult(path: path, sha256: "", problems: ["cannot read the file"]), nil))
                continue
            }
            let digest = SHA256.hash(data: data).hexString
            var result = FileResult(path: path, sha256: digest, problems: [])
            guard let signed = try? JSONDecoder().decode(SignedCertificate.self, from: data) else {
                result.problems.append("not a signed lcm certificate (the JSON does not parse as one)")
                results.append((result, nil))
                continue
            }
            result.sequence = signed.certificate.sequence
            result.subject = "\(signed.certificate.mediaInformation.subject.rawValue) \(signed.certificate.mediaInformation.name)"
            result.claim = signed.certificate.claim.rawValue
            if (try? SignedCertificate.canonical(signed)) != data {
                result.problems.append("the file differs from its canonical form: bytes were changed")
            }
            let signature = checkSignature(signed, trust: trust)
            result.signer = signature.signer
            if let problem = signature.problem { result.problems.append(problem) }
            result.problems += claimProblems(signed.certificate)
            if let expected = recorded[signed.certificate.sequence], expected != digest {
                result.problems.append("the inventory recorded certificate \(signed.certificate.sequence) with SHA-256 \(expected)")
            }
            if let hashLog, hashLog[signed.certificate.sequence]?.contains(digest) != true {
                result.problems.append("the hash log has no entry for certificate \(signed.certificate.sequence) with this SHA-256")
            }
            results.append((result, signed.certificate))
        }
        var chainProblems: [String] = []
        let chained = results.compactMap { result, certificate in certificate.map { (result, $0) } }.sorted { $0.1.sequence < $1.1.sequence }
        for (index, (result, certificate)) in chained.enumerated() {
            if index == 0 {
                if certificate.sequence == 1, certificate.previousSHA256 != firstPrevious {
                    chainProblems.append("certificate 1 names a predecessor")
                }
                if let recordedPrevious = recorded[certificate.sequence - 1], recordedPrevious != certificate.previousSHA256 {
                    chainProblems.append("certificate \(certificate.sequence) does not follow the recorded certificate \(certificate.sequence - 1)")
                }
                continue
            }
            let (previousResult, previous) = chained[index - 1]
            if certificate.sequence == previous.sequence {
                chainProblems.append("two certificates with sequence \(certificate.sequence): \(previousResult.path) and \(result.path)")
            } else if certificate.sequence != previous.sequence + 1 {
                chainProblems.append("certificate(s) \(previous.sequence + 1)...\(certificate.sequence - 1) missing between \(previousResult.path) and \(result.path)")
            } else if certificate.previousSHA256 != previousResult.sha256 {
                chainProblems.append("certificate \(certificate.sequence) does not chain to \(previousResult.path) (previousSHA256 \(certificate.previousSHA256), file \(previousResult.sha256))")
            }
        }
        return Report(trustedKey: trust, files: results.map(\.0), chainProblems: chainProblems)
    }

    /// The signer's fingerprint (when the block is well formed) and what is wrong with the signature.
    static func checkSignature(_ signed: SignedCertificate, trust: CertificateTrustAnchor) -> (signer: String?, problem: String?) {
        // Base64 decoders ignore a final character's spare bits: only the canonical spelling
        // counts, or a changed character would still verify.
        func decode(_ text: String) -> Data? {
            guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
            return data
        }
        guard signed.signature.algorithm == "Ed25519",
              let publicKey = decode(signed.signature.publicKey),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey),
              let signature = decode(signed.signature.value),
              let body = try? SignedCertificate.canonical(signed.certificate) else {
            return (nil, "the signature block is malformed")
        }
        let signer = CertificatePublicKey.fingerprint(publicKey)
        guard key.isValidSignature(signature, for: body) else { return (signer, "the signature does not match the certificate") }
        guard signed.signature.keyFingerprint == signer else { return (signer, "the key fingerprint does not match the public key") }
        guard signer == trust.fingerprint else {
            return (signer, "signed by key \(signer), not the trusted key \(trust.fingerprint) (\(trust.source))")
        }
        return (signer, nil)
    }

    /// What in the evidence fails to support the claim. A signature only says who wrote the
    /// certificate; the claim must also follow from what it records, by the same rules lcm
    /// issues it with (docs/RETIRE.md, "What the claim rests on").
    static func claimProblems(_ certificate: SanitizationCertificate) -> [String] {
        let claim = certificate.claim
        guard claim != .none else { return [] }
        var problems: [String] = []
        switch certificate.mediaInformation.subject {
        case .device:
            // lcm cannot check how a device's own storage was sanitized: Clear at most, and only with the operator's evidence.
            if claim == .purge { problems.append("a device certificate claims Purge: lcm certifies at most Clear for a device's own storage") }
            if certificate.mediaInformation.hostStorageSanitized != true || (certificate.mediaInformation.hostStorageEvidence ?? "").isEmpty {
                problems.append("claims \(claim.rawValue) for the device's storage without the operator's evidence of its sanitization")
            }
        case .desktop:
            for limit in SanitizationCertificate.desktopClaimLimits(files: certificate.files, keyCopies: certificate.keyCopies,
                                                                    notSanitized: certificate.notSanitized ?? [])
            where limit.atMost < claim {
                problems.append("claims \(claim.rawValue) but \(limit.reason)")
            }
        }
        return problems
    }
}
