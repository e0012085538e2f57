import Crypto
import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// Certificates are signed with the home's Ed25519 key and chained: they verify against a trusted
/// key; any changed byte, a foreign or re-signing key, a removed or reordered certificate, and a
/// claim its evidence does not support are reported.
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
                          bytesWritten: 1 << 20, bytesVerified: 1 << 20, verification: "full read-back: 1048576 bytes read, 0 differing",
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
        let trusted = CertificateTrustAnchor(publicKey: key.publicKey, source: "test")

        var paths: [String] = []
        var previous = CertificateVerifier.firstPrevious
        for sequence in 1...3 {
            let data = try key.sign(certificate(sequence: sequence, previous: previous, name: "desk\(sequence)"))
            let path = scratch.file("\(sequence).json").path
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
            previous = SHA256.hash(data: data).hexString
        }
        let good = CertificateVerifier.verify(paths: paths, trust: trusted)
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
            let report = CertificateVerifier.verify(paths: paths, trust: trusted)
            #expect(!report.files[1].valid, "byte \(position) changed and not detected")
            #expect(!report.chainProblems.isEmpty, "byte \(position): the chain did not notice")
            checked += 1
        }
        #expect(checked == original.count && checked > 1000)
        try original.write(to: URL(fileURLWithPath: paths[1]))
        #expect(CertificateVerifier.verify(paths: paths, trust: trusted).valid)

        // A removed certificate leaves a gap; a recorded chain catches a replaced one.
        let gap = CertificateVerifier.verify(paths: [paths[0], paths[2]], trust: trusted)
        #expect(gap.chainProblems.contains { $0.contains("missing") }, "\(gap.chainProblems)")
        let recorded = CertificateVerifier.verify(paths: [paths[2]], trust: trusted, recorded: [2: String(repeating: "f", count: 64)])
        #expect(!recorded.valid, "\(recorded)")

        // Another key's signature is valid in itself but not this home's.
        let stranger = try #require(try CertificateSigningKey.load(home: LCMHome(url: scratch.file("other"))))
        let foreign = scratch.file("foreign.json").path
        try stranger.sign(certificate(sequence: 1, previous: CertificateVerifier.firstPrevious, name: "x")).write(to: URL(fileURLWithPath: foreign))
        let foreignReport = CertificateVerifier.verify(paths: [foreign], trust: trusted)
        #expect(foreignReport.files[0].problems.contains { $0.contains("not the trusted key") }, "\(foreignReport)")
        #expect(foreignReport.files[0].signer == CertificatePublicKey.fingerprint(stranger.publicKey))
    }

    /// Writes a chain of `drafts` signed by `key`, each linked to the previous file's SHA-256.
    func writeChain(_ drafts: [SanitizationCertificate], key: CertificateSigningKey, in scratch: ScratchDirectory, prefix: String) throws -> [String] {
        var previous = CertificateVerifier.firstPrevious
        return try drafts.enumerated().map { index, draft in
            var certificate = draft
            certificate.sequence = index + 1
            certificate.previousSHA256 = previous
            let data = try key.sign(certificate)
            previous = SHA256.hash(data: data).hexString
            let path = scratch.file("\(prefix)-\(index + 1).json").path
            try data.write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// Someone who can write the home re-signs the whole chain with a key of their own: every link
    /// holds and every signature is valid, yet none is the trusted key's. With the home's own key
    /// (read from the home), only a hash log kept outside the home finds the rewrite.
    @Test func aChainReSignedWithAnotherKeyOrRewrittenWithTheHomesKeyIsFound() throws {
        let scratch = ScratchDirectory(prefix: "lcm-cert-resign")
        let admin = try #require(try CertificateSigningKey.load(home: LCMHome(url: scratch.file("admin"))))
        let attacker = try #require(try CertificateSigningKey.load(home: LCMHome(url: scratch.file("attacker"))))
        let trusted = CertificateTrustAnchor(publicKey: admin.publicKey, source: "auditor's copy")
        let drafts = (1...3).map { certificate(sequence: $0, previous: "", name: "desk\($0)") }

        let honest = try writeChain(drafts, key: admin, in: scratch, prefix: "honest")
        let log = scratch.file("hashes.log").path
        for (index, path) in honest.enumerated() {
            try CertificateHashLog.append(to: log, sequence: index + 1, sha256: SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).hexString,
                                          certificatePath: path)
        }
        let logged = try CertificateHashLog.read(log)
        let good = CertificateVerifier.verify(paths: honest, trust: trusted, hashLog: logged)
        #expect(good.valid, "\(good)")
        #expect(good.files.allSatisfy { $0.signer == trusted.fingerprint })

        var forged = drafts
        forged[1].mediaInformation.name = "someone-else"
        let resigned = try writeChain(forged, key: attacker, in: scratch, prefix: "resigned")
        let againstAttacker = CertificateVerifier.verify(paths: resigned, trust: CertificateTrustAnchor(publicKey: attacker.publicKey, source: "x"))
        #expect(againstAttacker.valid, "the forged chain is internally consistent: only the anchor tells it apart")
        let report = CertificateVerifier.verify(paths: resigned, trust: trusted)
        #expect(!report.valid && report.chainProblems.isEmpty)
        #expect(report.files.allSatisfy { file in file.problems.contains { $0.contains("not the trusted key \(trusted.fingerprint)") } }, "\(report)")
        #expect(report.files.allSatisfy { $0.signer == CertificatePublicKey.fingerprint(attacker.publicKey) })

        // Rewritten with the admin's own key: signatures and chain hold; the hash log does not.
        let rewritten = try writeChain(forged, key: admin, in: scratch, prefix: "rewritten")
        #expect(CertificateVerifier.verify(paths: rewritten, trust: trusted).valid)
        let logReport = CertificateVerifier.verify(paths: rewritten, trust: trusted, hashLog: logged)
        #expect(logReport.files.map(\.valid) == [true, false, false], "certificate 1 is unchanged; 2 was edited and 3 chains to it: \(logReport)")
        #expect(logReport.files[1].problems.contains { $0.contains("hash log has no entry for certificate 2") })
    }

    /// A valid signature over a claim its own evidence does not support is still invalid.
    @Test func aClaimMustFollowFromItsEvidence() throws {
        let scratch = ScratchDirectory(prefix: "lcm-cert-claim")
        let key = try #require(try CertificateSigningKey.load(home: LCMHome(url: scratch.file("home"))))
        let trusted = CertificateTrustAnchor(publicKey: key.publicKey, source: "test")
        func problems(_ edit: (inout SanitizationCertificate) -> Void) throws -> [String] {
            var draft = certificate(sequence: 1, previous: CertificateVerifier.firstPrevious, name: "desk")
            edit(&draft)
            let path = scratch.file("c.json").path
            try key.sign(draft).write(to: URL(fileURLWithPath: path))
            return CertificateVerifier.verify(paths: [path], trust: trusted).files[0].problems
        }
        #expect(try problems { _ in }.isEmpty)
        #expect(try problems { $0.files = [] }.contains { $0.contains("claims Purge but there is no file evidence") })
        #expect(try problems { $0.files = []; $0.claim = .clear }.contains { $0.contains("claims Clear but there is no file evidence") })
        // Anything named as not sanitized by lcm keeps a desktop at None, Clear included.
        let missing = SanitizationCertificate.NotSanitized(item: "data volume desk-data in pool lcm", reason: "missing from the pool")
        #expect(try problems { $0.notSanitized = [missing] }.contains { $0.contains("claims Purge but data volume desk-data in pool lcm was not sanitized by lcm") })
        #expect(try problems { $0.notSanitized = [missing]; $0.claim = .clear }.contains { $0.contains("claims Clear but data volume desk-data") })
        #expect(try problems { $0.notSanitized = [missing]; $0.claim = .none }.isEmpty, "None is what it supports")
        #expect(try problems { $0.notSanitized = [] }.isEmpty)
        // The issuer and the verifier judge with the same rules.
        let evidence = certificate(sequence: 1, previous: CertificateVerifier.firstPrevious, name: "desk")
        let limits = SanitizationCertificate.desktopClaimLimits(files: evidence.files, keyCopies: evidence.keyCopies, notSanitized: [missing])
        #expect(limits.map(\.atMost) == [.none] && limits[0].reason.contains("missing from the pool"), "\(limits)")
        #expect(try problems { $0.files = []; $0.keyCopies = []; $0.claim = .none }.isEmpty, "None needs no evidence")
        #expect(try problems { $0.files[0].encrypted = false }.contains { $0.contains("was not encrypted") })
        #expect(try problems { $0.files[0].encrypted = false; $0.claim = .clear }.isEmpty, "unencrypted data supports Clear")
        #expect(try problems { $0.files[0].errors = ["short write"]; $0.claim = .clear }.contains { $0.contains("recorded errors") })
        #expect(try problems { $0.files[0].verification = "not verified"; $0.claim = .clear }.contains { $0.contains("was not read back") })
        #expect(try problems { $0.files[0].verification = "full read-back: 1048576 bytes read, 1 differing" }.contains { $0.contains("did not read back as written") })
        #expect(try problems { $0.files[0].verification = "sample read-back: 131072 bytes read, 0 differing" }.contains { $0.contains("not fully verified") })
        #expect(try problems { $0.files[0].verification = "sample read-back: 131072 bytes read, 0 differing"; $0.claim = .clear }.isEmpty)
        #expect(try problems { $0.files[0].passes = 0 }.contains { $0.contains("no pass was written") })
        #expect(try problems { $0.files[0].hostFilesystem = "btrfs (copy-on-write)" }.contains { $0.contains("copy-on-write") })
        #expect(try problems { $0.keyCopies[0].destroyed = false; $0.claim = .clear }.contains { $0.contains("was not destroyed") })
        // A device: at most Clear, and only with the operator's evidence.
        func device(_ c: inout SanitizationCertificate) {
            c.mediaInformation.subject = .device
            c.files = []
            c.keyCopies = []
            c.mediaInformation.hostStorageSanitized = true
            c.mediaInformation.hostStorageEvidence = "vendor secure erase, ticket 42"
            c.claim = .clear
        }
        #expect(try problems { device(&$0) }.isEmpty)
        #expect(try problems { device(&$0); $0.claim = .purge }.contains { $0.contains("at most Clear") })
        #expect(try problems { device(&$0); $0.mediaInformation.hostStorageEvidence = nil }.contains { $0.contains("without the operator's evidence") })
    }

    /// The signing key is refused, like the master key, when another user may read it or owns it;
    /// the exported public key is the one that verifies.
    @Test func signingKeyFileIsCheckedAndItsExportedPublicKeyVerifies() throws {
        let scratch = ScratchDirectory(prefix: "lcm-cert-key")
        let home = LCMHome(url: scratch.file("home"))
        let key = try #require(try CertificateSigningKey.load(home: home))
        let file = CertificateSigningKey.url(home: home).path
        chmod(file, 0o640)
        do { _ = try CertificateSigningKey.load(home: home); Issue.record("a key other users may read was used") } catch let error as LCMError {
            #expect(error.code == .dataError && error.message.contains("mode 640"), "\(error.message)")
        }
        chmod(file, 0o600)
        if geteuid() == 0 {
            chown(file, 65534, 65534)
            do { _ = try CertificateSigningKey.load(home: home); Issue.record("a key owned by another user was used") } catch let error as LCMError {
                #expect(error.code == .dataError && error.message.contains("belongs to user 65534"), "\(error.message)")
            }
            chown(file, 0, 0)
        }
        #expect(try CertificateSigningKey.load(home: home)?.publicKey == key.publicKey)

        let exported = ExportedCertificateKey(key)
        #expect(exported.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        let pemFile = scratch.file("admin.pem").path
        try Data(exported.publicKeyPEM.utf8).write(to: URL(fileURLWithPath: pemFile))
        let anchor = try CertificateTrustAnchor.load(publicKeyFile: pemFile)
        #expect(anchor.fingerprint == exported.fingerprint && anchor.fingerprint == CertificatePublicKey.fingerprint(key.publicKey))
        #expect(try CertificateTrustAnchor(fingerprint: exported.fingerprint.uppercased(), source: "typed").fingerprint == anchor.fingerprint)
        let path = scratch.file("c.json").path
        try key.sign(certificate(sequence: 1, previous: CertificateVerifier.firstPrevious, name: "desk")).write(to: URL(fileURLWithPath: path))
        #expect(CertificateVerifier.verify(paths: [path], trust: anchor).valid)

        try Data("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".utf8).write(to: URL(fileURLWithPath: pemFile))
        do { _ = try CertificateTrustAnchor.load(publicKeyFile: pemFile); Issue.record("a malformed key was accepted") } catch let error as LCMError {
            #expect(error.code == .dataError)
        }
        do { _ = try CertificateTrustAnchor.load(publicKeyFile: scratch.file("missing.pem").path); Issue.record("a missing key was accepted") } catch let error as LCMError {
            #expect(error.code == .notFound)
        }
    }
}
