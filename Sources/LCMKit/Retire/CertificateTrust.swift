import Crypto
import Foundation

/// The public half of a home's certificate-signing key as auditors receive it: a PEM
/// SubjectPublicKeyInfo (RFC 8410), so OpenSSL reads it too (`openssl pkey -pubin -text`).
public enum CertificatePublicKey {
    /// DER prefix of an Ed25519 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (32 bytes) }.
    static let spkiPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
    static let begin = "-----BEGIN PUBLIC KEY-----"
    static let end = "-----END PUBLIC KEY-----"

    public static func pem(_ rawKey: Data) -> String {
        let body = (Data(spkiPrefix) + rawKey).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "\(begin)\n\(body)\n\(end)\n"
    }

    /// The raw 32-byte key of a PEM file written by `pem` (or by OpenSSL for an Ed25519 key).
    public static func rawKey(pem text: String, source: String) throws -> Data {
        let malformed = LCMError(.dataError, "\(source) is not an Ed25519 public key in PEM form",
                                 hint: "give the file `lcm retire export-key` printed on the admin's machine")
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.firstIndex(of: begin), let last = lines.lastIndex(of: end), first < last else { throw malformed }
        guard let der = Data(base64Encoded: lines[(first + 1)..<last].joined()),
              der.count == spkiPrefix.count + 32, der.prefix(spkiPrefix.count).elementsEqual(spkiPrefix) else { throw malformed }
        let raw = Data(der.suffix(32))
        guard (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else { throw malformed }
        return raw
    }

    /// SHA-256 of the raw key, lowercase hex: what the admin reads out to an auditor.
    public static func fingerprint(_ rawKey: Data) -> String { SHA256.hash(data: rawKey).hexString }
}

/// The key certificates must be signed by. Verification never runs without one: a certificate
/// signed by some key proves nothing until that key is known to be the admin's.
public struct CertificateTrustAnchor: Sendable, Equatable, Codable {
    /// SHA-256 of the trusted raw public key, lowercase hex.
    public let fingerprint: String
    /// Where the anchor came from, for the report ("this home's key", a file, "--trusted-fingerprint").
    public let source: String

    public init(publicKey: Data, source: String) {
        fingerprint = CertificatePublicKey.fingerprint(publicKey)
        self.source = source
    }

    /// A fingerprint as an auditor types it: 64 hex digits, colons and spaces allowed.
    public init(fingerprint text: String, source: String) throws {
        let digits = text.lowercased().filter { $0 != ":" && $0 != " " }
        guard digits.count == 64, digits.allSatisfy(\.isHexDigit) else {
            throw LCMError(.usage, "a key fingerprint is 64 hex digits (SHA-256), not \(text)",
                           hint: "copy it from `lcm retire export-key --format json` or a verified report")
        }
        fingerprint = digits
        self.source = source
    }

    /// The anchor in a PEM file an auditor was given. A missing file exits 66, a malformed one 65.
    public static func load(publicKeyFile path: String) throws -> CertificateTrustAnchor {
        let file = try InputFile(path, what: "public key file")
        let text = String(decoding: try file.contents(limit: 64 << 10), as: UTF8.self)
        return CertificateTrustAnchor(publicKey: try CertificatePublicKey.rawKey(pem: text, source: path), source: path)
    }
}

extension CertificateTrustAnchor {
    /// The anchor a verification uses: the key file or fingerprint the auditor gave, else the
    /// home's own key. With none of them there is nothing to trust, and verification refuses to run.
    public static func resolve(trustedKeyFile: String?, fingerprint: String?, home: LCMHome) throws -> CertificateTrustAnchor {
        if let trustedKeyFile { return try load(publicKeyFile: trustedKeyFile) }
        if let fingerprint { return try CertificateTrustAnchor(fingerprint: fingerprint, source: "--trusted-fingerprint") }
        if home.exists, let key = try CertificateSigningKey.load(home: home, create: false) {
            return CertificateTrustAnchor(publicKey: key.publicKey, source: "this home's key, \(CertificateSigningKey.url(home: home).path)")
        }
        throw LCMError(.notFound, "no trusted key: \(home.path) has no certificate-signing key, and none was given",
                       hint: "give --trusted-key FILE (the output of `lcm retire export-key` on the admin's machine) or --trusted-fingerprint SHA256")
    }
}

/// What `lcm retire export-key` prints.
public struct ExportedCertificateKey: Codable, Sendable, Equatable {
    public var algorithm = "Ed25519"
    public var fingerprint: String
    public var publicKeyPEM: String

    public init(_ key: CertificateSigningKey) {
        fingerprint = CertificatePublicKey.fingerprint(key.publicKey)
        publicKeyPEM = CertificatePublicKey.pem(key.publicKey)
    }
}
