import Crypto
import Foundation

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
