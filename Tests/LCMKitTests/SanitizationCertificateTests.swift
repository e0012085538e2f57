import Crypto
import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// Certificates are signed with the home's Ed25519 key and chained: they verify; any changed
/// byte, a foreign key, a removed or reordered certificate is reported.
@Suite struct SanitizationCertificateTests {
    func certificate(sequence: Int, previous: String, name: String) -> SanitizationCertificate {
        SanitizationCertificate(
            sequence: sequence, previousSHA256: previous, issued: "2026-12-03T12:00:00Z",
            personPerformingSanitization: .init(name: "admin", title: nil, organization: "Contoso", location: nil),
            mediaInformation: .init(subject: .desktop, name: name, makeModel: nil, serialNumber: nil,
                                    mediaType: "virtual disk files on a client hypervisor", source: "user jdoe"),
            sanitizationDetails: .init(methodType: .purge, methodUsed: "crypto-erase + overwrite", methodDetails: "1 random pass",
                                       toolUsed: "lcm \(LCMVersion.current)", verificationMethod: "full read-back",
                                       postSanitizationDestination: "reuse", reason: "leaver",
                                       start: "2026-12-03T11:00:00Z", end: "2026-12-03T11:05:00Z"),
            personValidating: nil,
            files: [.init(role: "data", path: "/var/lib/libvirt/images/lcm/\(name)-data.qcow2", host: "qemu:///system",
                          virtualBytes: 1 << 30, allocatedBytes: 1 << 20, hostFilesystem: "ext4", discardEnabled: true, encrypted: true,
                          method: "crypto-erase + overwrite", passes: 1, generator: "AES-256-CTR", route: "local",
                          bytesWritten: 1 << 20, bytesVerified: 1 << 20, verification: "full",
                          start: "2026-12-03T11:00:00Z", end: "2026-12-03T11:01:00Z", errors: [])],
            keyCopies: [.init(kind: "escrow", location: "lcm.db", destroyed: true, how: "secure_delete", at: nil)],
            claim: .purge, claimReasons: ["every key copy destroyed"], residualRisk: ["none known"])
    }

    @Test func signedChainVerifiesAndEveryTamperingIsFound() throws {
        let scratch = ScratchDirectory(prefix: "lcm-cert")
        let home = LCMHome(url: scratch.file("home"))
        let key = try #require(try CertificateSigningKey.load(home: home))
        let keyFile = CertificateSigningKey.url(home: home).path
        #expect((try FileManager.default.attributesOfItem(atPath: keyFile)[.posixPermissions] as? Int) == 0o600)
        #expect(try CertificateSigningKey.load(home: home)?.publicKeyBase64 == key.publicKeyBase64, "the same key is loaded again")
        let trusted = key.privateKey.publicKey.rawRepresentation

        var paths: [String] = []
        var previous = CertificateVerifier.firstPrevious
        for sequence in 1...3 {
            let data = try key.sign(certificate(sequence: sequence, previous: previous, name: "desk\(sequence)"))
            let path = scratch.file("\(sequence).json").path
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
            previous = SHA256.hash(data: data).hexString
        }
        let good = CertificateVerifier.verify(paths: paths, trustedKey: trusted)
        #expect(good.valid, "\(good)")
        // The signature is Ed25519 over the canonical certificate, checked with CryptoKit's verifier.
        let signed = try JSONDecoder().decode(SignedCertificate.self, from: try Data(contentsOf: URL(fileURLWithPath: paths[0])))
        let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: try #require(Data(base64Encoded: signed.signature.publicKey)))
        #expect(publicKey.isValidSignature(try #require(Data(base64Encoded: signed.signature.value)),
                                           for: try SignedCertificate.canonical(signed.certificate)))

        // Every single changed byte of the middle certificate is caught: as a parse failure, a
        // non-canonical form, a bad signature or fingerprint, and the next certificate's chain
        // link breaks.
        let original = try Data(contentsOf: URL(fileURLWithPath: paths[1]))
        var checked = 0
        for position in 0..<original.count {
            var changed = original
            changed[position] = changed[position] == 0x41 ? 0x42 : 0x41
            try changed.write(to: URL(fileURLWithPath: paths[1]))
            let report = CertificateVerifier.verify(paths: paths, trustedKey: trusted)
            #expect(!report.files[1].valid, "byte \(position) changed and not detected")
            #expect(!report.chainProblems.isEmpty, "byte \(position): the chain did not notice")
            checked += 1
        }
        #expect(checked == original.count && checked > 1000)
        try original.write(to: URL(fileURLWithPath: paths[1]))
        #expect(CertificateVerifier.verify(paths: paths, trustedKey: trusted).valid)

        // A removed certificate leaves a gap; a recorded chain catches a replaced one.
        let gap = CertificateVerifier.verify(paths: [paths[0], paths[2]], trustedKey: trusted)
        #expect(gap.chainProblems.contains { $0.contains("missing") }, "\(gap.chainProblems)")
        let recorded = CertificateVerifier.verify(paths: [paths[2]], trustedKey: trusted, recorded: [2: String(repeating: "f", count: 64)])
        #expect(!recorded.valid, "\(recorded)")

        // Another key's signature is valid in itself but not this home's.
        let stranger = try #require(try CertificateSigningKey.load(home: LCMHome(url: scratch.file("other"))))
        let foreign = scratch.file("foreign.json").path
        try stranger.sign(certificate(sequence: 1, previous: CertificateVerifier.firstPrevious, name: "x")).write(to: URL(fileURLWithPath: foreign))
        let foreignReport = CertificateVerifier.verify(paths: [foreign], trustedKey: trusted)
        #expect(foreignReport.files[0].problems.contains { $0.contains("not this home's key") }, "\(foreignReport)")
        #expect(CertificateVerifier.verify(paths: [foreign], trustedKey: nil).valid)
    }
}
