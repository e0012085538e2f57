import Crypto
import Foundation

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
