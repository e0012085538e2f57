import Crypto
import Foundation
import GRDB

/// Issues certificates into this home's chain: the next sequence number, the previous file's
/// SHA-256, signed, written under `$LCM_HOME/certificates/` and recorded.
public struct CertificateIssuer {
    public let inventory: Inventory
    /// A file outside the home each certificate's SHA-256 is appended to (`--append-hash-to`).
    public let hashLog: String?
    /// When a certificate is recorded as issued.
    public let clock: WallClock

    public init(inventory: Inventory, hashLog: String? = nil, clock: WallClock = .system) {
        self.inventory = inventory
        self.hashLog = hashLog
        self.clock = clock
    }

    public var directory: URL { inventory.home.url.appendingPathComponent("certificates") }

    public struct Issued: Sendable {
        public var sequence: Int
        public var path: String
        public var claim: String
    }

    /// `certificate`'s sequence and previous hash are set here. A file written by a run killed
    /// before its row was recorded is written again under the same sequence. `record` runs in
    /// the transaction that records the certificate, so the caller's own state (a retirement's
    /// step, a device's status) changes with it or not at all: a rerun never issues a second one.
    public func issue(_ draft: SanitizationCertificate,
                      recording record: (Database, Issued) throws -> Void = { _, _ in }) throws -> Issued {
        guard let key = try CertificateSigningKey.load(home: inventory.home) else {
            throw LCMError(.failure, "no certificate-signing key")
        }
        let lock = try ObjectLock.acquire(home: inventory.home, kind: "certificate", id: "chain", timeout: 60)
        defer { lock.unlock() }
        let last = try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT sequence, sha256 FROM certificate ORDER BY sequence DESC LIMIT 1")
        }
        var certificate = draft
        certificate.sequence = (last?["sequence"] as Int? ?? 0) + 1
        certificate.previousSHA256 = last?["sha256"] ?? CertificateVerifier.firstPrevious
        let data = try key.sign(certificate)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let subject = certificate.mediaInformation
        let file = directory.appendingPathComponent(String(format: "%06d-%@-%@.json", certificate.sequence, subject.subject.rawValue,
                                                           Self.fileSafe(subject.name)))
        try data.write(to: file, options: .atomic)
        let digest = SHA256.hash(data: data).hexString
        // Logged before it is recorded: a run killed in between logs the reissued file again,
        // and an extra line never hides a certificate.
        if let hashLog {
            try CertificateHashLog.append(to: hashLog, sequence: certificate.sequence, sha256: digest, certificatePath: file.path)
        }
        let issued = Issued(sequence: certificate.sequence, path: file.path, claim: certificate.claim.rawValue)
        try inventory.write { db in
            try db.execute(sql: """
                INSERT INTO certificate (sequence, subjectKind, subjectName, claim, sha256, path, issuedAt) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [certificate.sequence, subject.subject.rawValue, subject.name, certificate.claim.rawValue, digest, file.path, clock.now()])
            try AuditLog.record(db, actor: inventory.actor, objectKind: subject.subject.rawValue, objectID: subject.name,
                                action: "certificate issued", details: ["sequence": String(certificate.sequence), "claim": certificate.claim.rawValue])
            try record(db, issued)
        }
        return issued
    }

    /// The recorded chain: sequence → SHA-256.
    public func recordedChain() throws -> [Int: String] {
        try inventory.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT sequence, sha256 FROM certificate").map { ($0["sequence"] as Int, $0["sha256"] as String) })
        }
    }

    /// The newest certificate of a desktop or device.
    public func latest(subject name: String) throws -> (sequence: Int, path: String)? {
        try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT sequence, path FROM certificate WHERE subjectName = ? ORDER BY sequence DESC LIMIT 1",
                             arguments: [name]).map { ($0["sequence"], $0["path"]) }
        }
    }

    static func fileSafe(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
    }
}

extension Retirement {
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    /// What the evidence shows against the strongest claim: failures (claim None), reasons it is
    /// only Clear, and residual risks (stated, not lowering the claim).
    struct ClaimFindings {
        var failures: [String] = []
        var clearReasons: [String] = []
        var risks: [String] = []

        var claim: SanitizationCertificate.Level { !failures.isEmpty ? .none : (clearReasons.isEmpty ? .purge : .clear) }

        var reasons: [String] {
            switch claim {
            case .none: failures
            case .clear: clearReasons
            case .purge: ["every volume holding data was encrypted; its LUKS keyslots and every recorded copy of the key were destroyed and checked; every file was overwritten and read back; nothing the desktop's data may be in was left out"]
            }
        }
    }

    /// The certificate for a retirement: what was done to each file and key copy, and the claim the
    /// evidence supports (Purge, Clear or None) with its reasons.
    static func certificate(_ record: Record, options: RetireOptions) -> SanitizationCertificate {
        let plan = record.plan, progress = record.progress
        var findings = ClaimFindings()
        var files: [SanitizationCertificate.FileEvidence] = []
        for (file, done) in zip(plan.files, progress.files) {
            files.append(fileEvidence(file, done, host: plan.uri))
            judge(file, done, into: &findings)
        }
        let keyCopies = keyCopyEvidence(plan, progress, into: &findings)
        let notSanitized = plan.notSanitized ?? []
        for limit in SanitizationCertificate.desktopClaimLimits(files: files, keyCopies: keyCopies, notSanitized: notSanitized) {
            if limit.atMost == .none { findings.failures.append(limit.reason) } else { findings.clearReasons.append(limit.reason) }
        }
        if plan.files.filter({ $0.role == "qemu-log" }).count > 1 {
            findings.clearReasons.append("qemu's log was rotated: earlier rotations deleted before retirement may still hold the disk key encrypted under a master key whose unlinked file may be recoverable")
        }
        if options.verify == .none { findings.failures.append("verification was skipped (--verify none)") }
        findings.risks.append("Overwrites went through the host's filesystem and block layer; blocks the filesystem or the device moved earlier "
                              + "(file copies, defragmentation, SSD wear levelling) are outside lcm's reach: sanitize the device's own storage at its disposal.")

        let claim = findings.claim
        return SanitizationCertificate(
            sequence: 0, previousSHA256: "", issued: time(Date()),
            personPerformingSanitization: .init(name: options.operatorName, title: nil, organization: nil, location: plan.uri),
            mediaInformation: .init(subject: .desktop, name: plan.desktop, makeModel: nil, serialNumber: plan.domainUUID,
                                    mediaType: "virtual disk files of a desktop on a client hypervisor (device \(plan.device ?? "unknown"))",
                                    source: plan.user.map { "user \($0)" }, dataClassification: nil),
            sanitizationDetails: .init(methodType: claim, methodUsed: options.method.rawValue,
                                       methodDetails: files.map { "\($0.role): \($0.method)" }.joined(separator: " | "),
                                       toolUsed: "lcm \(LCMVersion.current)",
                                       verificationMethod: options.verify == .none ? "none" : "\(options.verify.rawValue) read-back compared with the regenerated pattern",
                                       postSanitizationDestination: options.destination, reason: options.reason,
                                       start: time(progress.start), end: time(Date())),
            personValidating: nil, files: files, keyCopies: keyCopies, claim: claim, claimReasons: findings.reasons,
            residualRisk: findings.risks, notSanitized: notSanitized)
    }

    static func time(_ date: Date?) -> String { date.map(timestamp) ?? "" }

    /// What was done to one file, as the certificate states it.
    static func fileEvidence(_ file: RetirePlan.File, _ done: RetireFileProgress, host: String) -> SanitizationCertificate.FileEvidence {
        var method: [String] = []
        if done.headerErased { method.append("LUKS header (keyslots) overwritten") }
        if !done.passes.isEmpty { method.append("\(done.passes.count) pass(es): " + done.passes.map(\.generatorName).joined(separator: ", ")) }
        if method.isEmpty { method.append("verify-only (nothing written)") }
        let verification: String
        if let result = done.verification {
            verification = "\(result.coverage.rawValue) read-back: \(result.bytesRead) bytes read, \(result.mismatchedBytes) differing"
        } else {
            verification = "not verified"
        }
        return .init(role: file.role, path: file.path, host: host, virtualBytes: file.virtualBytes, allocatedBytes: file.allocatedBytes,
                     hostFilesystem: done.hostFilesystem, discardEnabled: file.discard, encrypted: file.encrypted,
                     method: method.joined(separator: "; "), passes: done.passesDone, generator: done.passes.last?.generatorName ?? "none",
                     route: done.route ?? "", bytesWritten: done.bytesWritten, bytesVerified: done.verification?.bytesRead ?? 0,
                     verification: verification, start: time(done.start), end: time(done.end), errors: done.errors,
                     notes: done.notes)
    }

    /// What one file's evidence itself shows, by the rules the verifier uses.
    static func judge(_ file: RetirePlan.File, _ done: RetireFileProgress, into findings: inout ClaimFindings) {
        if done.passesDone < done.passes.count { findings.failures.append("\(file.path): \(done.passesDone) of \(done.passes.count) passes written") }
        if file.encrypted, file.volume != nil, !done.headerVerified { findings.clearReasons.append("\(file.path): its LUKS keyslots were not erased and verified") }
        if done.hostFilesystem.hasPrefix("unknown") { findings.risks.append("\(file.path): the host filesystem is unknown; whether it overwrites in place could not be checked") }
        if file.discard == true { findings.risks.append("\(file.path): discard was enabled, so blocks the guest freed went back to the host filesystem before retirement and are outside this file") }
        if file.role == "nvram" { findings.risks.append("\(file.path) (UEFI variables) was not encrypted; it was overwritten like the rest") }
        if file.role == "qemu-log" {
            findings.risks.append("\(file.path) held the disk key encrypted under a per-run master key that libvirtd kept in a file and unlinked without overwriting; the log was overwritten")
        }
    }

    /// Every copy of the key and what became of it: keyslots erased with their header or their
    /// volume, or before the retirement, then the key report's other copies.
    static func keyCopyEvidence(_ plan: RetirePlan, _ progress: RetireProgress,
                                into findings: inout ClaimFindings) -> [SanitizationCertificate.KeyCopyEvidence] {
        var keyCopies: [SanitizationCertificate.KeyCopyEvidence] = progress.erasedKeyslots.map {
            .init(kind: KeyCopyLocation.luksKeyslots.rawValue, location: "\($0) on \(plan.uri)", destroyed: true,
                  how: "LUKS header (every keyslot) overwritten with AES-256-CTR output and read back", at: nil)
        } + progress.overwrittenKeyslots.map {
            .init(kind: KeyCopyLocation.luksKeyslots.rawValue, location: "\($0) on \(plan.uri)", destroyed: true,
                  how: "destroyed with the whole volume, overwritten by every pass", at: nil)
        } + (progress.keyslotsDestroyedEarlier ?? []).map {
            .init(kind: KeyCopyLocation.luksKeyslots.rawValue, location: "\($0.detail) on \($0.hostURI ?? plan.uri)", destroyed: true,
                  how: $0.destroyedHow ?? "destroyed before the retirement", at: time($0.destroyedAt))
        }
        guard let report = progress.keyReport else {
            if plan.keyID == nil { findings.clearReasons.append("the desktop was deployed with --no-encrypt: there is no key to destroy") }
            return keyCopies
        }
        for item in report.items {
            var how = item.how
            let overwritten = item.location == .libvirtSecretFile && progress.overwrittenKeyFiles.contains(item.detail)
            if overwritten { how = "overwritten in place with random bytes and fsynced by lcm, then " + how }
            if item.location == .luksKeyslots {
                // Listed above, from what the header and overwrite steps did.
                if !progress.erasedKeyslots.contains(item.detail) && !progress.overwrittenKeyslots.contains(item.detail) {
                    keyCopies.append(.init(kind: item.location.rawValue, location: item.detail, destroyed: false, how: item.how, at: nil))
                }
                continue
            }
            let destroyed = item.outcome == .destroyed
            keyCopies.append(.init(kind: item.location.rawValue, location: item.detail + (item.hostURI.map { " on \($0)" } ?? ""),
                                   destroyed: destroyed, how: how, at: nil))
            if item.location == .libvirtSecretFile && !overwritten {
                findings.clearReasons.append("libvirtd kept the key base64-encoded in \(item.detail) on \(item.hostURI ?? "the device") and only unlinked it: its blocks were not overwritten")
            }
        }
        return keyCopies
    }
}
