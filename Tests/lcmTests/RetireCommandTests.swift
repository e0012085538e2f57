import Foundation
import GRDB
import Libvirt
import LCMKit
import LCMTestSupport
import Testing

/// `lcm retire` against the real libvirtd: a deployed desktop (started once, so it has NVRAM and
/// TPM state) is retired through two `kill -9`s; the wiped files are checked by readers independent
/// of lcm before the last run deletes them; the certificate verifies and its chain holds.
@Suite("lcm retire (real libvirtd)", .serialized)
struct RetireCommandTests {
    @Test func deployedDesktopIsRetiredThroughKillsWithEveryByteAndKeyAccountedFor() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-R-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        let licenseKey = world.scratch.file("key.txt")
        try "VK7JG-NPHTM-C97JM-9MPGT-3V66T\n".write(to: licenseKey, atomically: true, encoding: .utf8)
        try world.expectOK(["procure", "license", "add", "pro", "--product", "Windows 11 Pro", "--seats", "1", "--key-file", licenseKey.path])
        let name = world.name("leaver")
        try world.expectOK(["deploy", "--image", "gold", "--device", device, "--name", name, "--user", "erin", "--license-pool", "pro",
                            "--network", network, "--no-start"])
        // Started once (the golden stand-in does not boot, but libvirt makes NVRAM and swtpm state).
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name]).status == 0)
        Thread.sleep(forTimeInterval: 2)
        let inventory = try world.inventory()
        let keyID = try #require(try inventory.read { db in try String.fetchOne(db, sql: "SELECT keyID FROM desktop WHERE name = ?", arguments: [name]) })
        let passphrase = try DesktopKey.passphrase(keyID: keyID, inventory: inventory)
        let secretCopies = try DesktopKey.copies(keyID: keyID, inventory: inventory).filter { $0.location == .libvirtSecret }.map(\.detail)
        #expect(secretCopies.count == 2, "the disk and vTPM secrets")

        // --dry-run lists every file and key copy and changes nothing.
        let plan = try world.lcm.run(["retire", name, "--dry-run", "--format", "json"])
        try #require(plan.status == 0, "\(plan.stderr)")
        let planned = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(plan.stdout.utf8)).first).plan
        #expect(Set(planned.files.map(\.role)).isSuperset(of: ["os", "data", "nvram", "tpm-state", "swtpm-log", "qemu-log"]), "\(planned.files.map(\.role))")
        #expect(planned.notSanitized == [], "\(planned.notSanitized ?? [])")
        // qemu's log holds the disk key, encrypted under the run's master key: it is wiped too.
        let qemuLog = try #require(planned.files.first { $0.role == "qemu-log" }).path
        #expect(try String(contentsOfFile: qemuLog, encoding: .utf8).contains("encryption-secret"), "no key blob in \(qemuLog)")
        #expect(planned.keyCopies.count >= 5 && planned.seats == 1 && planned.user == "erin", "\(planned)")
        #expect(try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM retirement") } == 0)
        #expect(try Connection(uri: DeployFixture.localURI).lookupDomain(name: name)?.isActive == true, "the dry run touched the domain")
        #expect(try world.lcm.run(["retire", name]).status == LCMExitCode.usage.rawValue, "no --yes, no retirement")

        // Killed right after its first synced overwrite checkpoint, then after verification.
        var killed = world.lcm
        killed.environment["LCM_FAILPOINT"] = "retire:overwrite-checkpoint:recorded"
        let first = try killed.run(["retire", name, "--yes", "--shutdown-timeout", "5", "--reason", "leaver", "--destination", "reuse"])
        #expect(first.signaled && first.status == SIGKILL, "\(first.status) \(first.stderr)")
        killed.environment["LCM_FAILPOINT"] = "retire:overwritten:recorded"
        let second = try killed.run(["retire", name, "--yes"])
        #expect(second.signaled && second.status == SIGKILL, "\(second.status) \(second.stderr)")
        // A byte changed behind lcm's back after the pass: verification fails, nothing is
        // deleted, and the next run overwrites that file again.
        let dataPath = try #require(planned.files.first { $0.role == "data" }).path
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: dataPath))
        try handle.seek(toOffset: 4096)
        let old = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data([old ^ 0x5A]))
        try handle.close()
        let mismatch = try world.lcm.run(["retire", name, "--yes"])
        #expect(mismatch.status == LCMExitCode.checkFailed.rawValue && mismatch.stderr.contains(dataPath), "\(mismatch.status) \(mismatch.stderr)")
        #expect(FileManager.default.fileExists(atPath: dataPath), "deleted although its verification failed")
        killed.environment["LCM_FAILPOINT"] = "retire:verified:recorded"
        let third = try killed.run(["retire", name, "--yes"])
        #expect(third.signaled && third.status == SIGKILL, "\(third.status) \(third.stderr)")

        // Between the kills and the last run every file is wiped but still there: readers
        // independent of lcm's verifier regenerate each file's pass with OpenSSL and compare.
        let row = try #require(try inventory.read { db in try Row.fetchOne(db, sql: "SELECT plan, progress, state FROM retirement") })
        #expect(row["state"] as String == "verified")
        let wiped = try JSONDecoder().decode(RetirePlan.self, from: Data((row["plan"] as String).utf8))
        let progress = try JSONDecoder().decode(RetireProgress.self, from: Data((row["progress"] as String).utf8))
        for (file, done) in zip(wiped.files, progress.files) {
            guard case .random(let seed, let nonce) = try #require(done.passes.last) else { Issue.record("not random"); continue }
            let size = try #require(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int)
            let zeros = world.scratch.file("zeros"), expected = world.scratch.file("expected")
            FileManager.default.createFile(atPath: zeros.path, contents: nil)
            #expect(truncate(zeros.path, off_t(size)) == 0)
            let generated = try ProgramRun.run("/usr/bin/openssl", ["enc", "-aes-256-ctr", "-K", Self.hex(seed), "-iv", Self.hex(nonce + [UInt8](repeating: 0, count: 8)),
                                                                    "-in", zeros.path, "-out", expected.path])
            #expect(generated.status == 0, "\(generated.stderr)")
            let compared = try ProgramRun.run("/usr/bin/cmp", [file.path, expected.path])
            #expect(compared.status == 0, "\(file.role) \(file.path) is not the pass lcm recorded: \(compared.stdout)")
        }
        // The old key opens nothing: the keyslots are gone from each encrypted volume.
        let keyFile = world.scratch.file("old-key")
        FileManager.default.createFile(atPath: keyFile.path, contents: Data(try passphrase.bytes()), attributes: [.posixPermissions: 0o600])
        for file in wiped.files where file.volume != nil {
            let opened = try ProgramRun.run("/usr/bin/qemu-img", ["convert", "-O", "raw", "--object", "secret,id=sec0,file=\(keyFile.path)",
                                                                  "--image-opts", "driver=qcow2,file.filename=\(file.path),encrypt.key-secret=sec0",
                                                                  world.scratch.file("out.raw").path])
            #expect(opened.status != 0, "the old key still opens \(file.path)")
        }
        unlink(keyFile.path)
        // No copy of the key left: libvirt's secrets and their files, and the database and its WAL.
        let connection = try Connection(uri: DeployFixture.localURI)
        for uuid in secretCopies {
            #expect(try connection.lookupSecret(uuid: uuid) == nil)
            #expect(!FileManager.default.fileExists(atPath: "/etc/libvirt/secrets/\(uuid).base64"))
        }
        let keyBytes = Data(try passphrase.bytes())
        for file in [world.home + "/lcm.db", world.home + "/lcm.db-wal"] {
            let contents = FileManager.default.contents(atPath: file) ?? Data()
            #expect(contents.range(of: keyBytes) == nil && contents.range(of: Data(keyBytes.base64EncodedString().utf8)) == nil, "the key is in \(file)")
        }
        #expect(try connection.lookupDomain(name: name) == nil, "undefined")

        // The last run finishes from where the second stopped.
        let last = try world.lcm.run(["retire", name, "--yes", "--format", "json"])
        #expect(last.status == 0, "\(last.stderr)\n\(last.stdout)")
        let report = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(last.stdout.utf8)).first)
        #expect(report.disposed && report.state == .closed, "\(report.state)")
        for file in wiped.files { #expect(!FileManager.default.fileExists(atPath: file.path), "\(file.path) stayed") }
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(try inventory.read { db in try String.fetchOne(db, sql: "SELECT status FROM desktop WHERE name = ?", arguments: [name]) } == "disposed")
        #expect(try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM licenseSeat WHERE releasedAt IS NULL") } == 0, "the seat is back")
        let again = try world.lcm.run(["retire", name, "--yes"])
        #expect(again.status == LCMExitCode.conflict.rawValue && again.stderr.contains("already"), "\(again.stderr)")

        // The certificate: signed, chained, claims what the evidence supports.
        let certificate = try world.lcm.run(["retire", "certificate", name])
        try #require(certificate.status == 0, "\(certificate.stderr)")
        let signed = try JSONDecoder().decode(SignedCertificate.self, from: Data(certificate.stdout.utf8))
        // Every file written whole and read back whole; the data volume twice (its first pass was spoiled).
        #expect(signed.certificate.sequence == 1 && signed.certificate.files.count == wiped.files.count)
        #expect(signed.certificate.files.reduce(0) { $0 + $1.bytesWritten } > 10 << 20, "the volumes and state files were written whole")
        #expect(signed.certificate.files.allSatisfy { $0.bytesWritten == $0.bytesVerified * ($0.role == "data" ? 2 : 1) && $0.errors.isEmpty && $0.hostFilesystem == "ext4" }, "\(signed.certificate.files)")
        #expect(signed.certificate.keyCopies.filter { $0.kind == "luks-keyslots" }.count == 2)
        #expect(signed.certificate.keyCopies.allSatisfy { $0.destroyed }, "\(signed.certificate.keyCopies)")
        #expect(signed.certificate.claim == .purge, "\(signed.certificate.claimReasons)")
        let dataEvidence = try #require(signed.certificate.files.first { $0.role == "data" })
        #expect(dataEvidence.notes.contains { $0.contains("verification failed (1 bytes differed, first at 4096)") }, "\(dataEvidence.notes)")
        #expect(signed.certificate.sanitizationDetails.reason == "leaver" && signed.certificate.sanitizationDetails.postSanitizationDestination == "reuse")
        let verified = try world.lcm.run(["retire", "verify-certificate", "--all"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        // One changed byte in the file is found.
        let path = try #require(report.progress.certificatePath)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let at = try #require(bytes.range(of: Data("leaver".utf8))).lowerBound
        bytes[at] = UInt8(ascii: "L")
        try bytes.write(to: URL(fileURLWithPath: path))
        let tampered = try world.lcm.run(["retire", "verify-certificate", path])
        #expect(tampered.status == LCMExitCode.checkFailed.rawValue && tampered.stdout.contains("INVALID"), "\(tampered.stdout)")
    }

    /// A desktop on a device lcm reaches as `qemu+tcp://127.0.0.1/system`, retired by an lcm whose
    /// mount namespace hides the pool's directory: every file, NVRAM, TPM state and qemu's log
    /// included, goes through libvirt streams; the host filesystem is reported unknown, and the
    /// claim is Clear because libvirtd's secret files on a remote host are only unlinked.
    @Test func remoteDesktopIsRetiredThroughStreamsOnly() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-RR-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.remoteURI)
        try world.importImage(.golden, as: "gold")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        let name = world.name("remote")
        try world.expectOK(["deploy", "--image", "gold", "--device", device, "--name", name, "--network", network, "--no-start"])
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name]).status == 0)

        let retired = try ProgramRun.run("/usr/bin/unshare", [
            "-m", "sh", "-c", "mount -t tmpfs lcm-hidden '\(DeployFixture.poolDirectory)' && exec \"$0\" \"$@\"",
            BuiltProducts.executable("lcm").path, "retire", name, "--yes", "--shutdown-timeout", "3", "--format", "json",
        ], environment: world.lcm.environment.merging(["LCM_HOME": world.home]) { $1 })
        #expect(retired.status == 0, "\(retired.stderr)\n\(retired.stdout)")
        let report = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(retired.stdout.utf8)).first)
        #expect(report.disposed && report.claim == "Clear", "\(report.claim ?? "-")")
        #expect(Set(report.plan.files.map(\.role)).isSuperset(of: ["os", "data", "nvram", "tpm-state", "qemu-log"]), "\(report.plan.files.map(\.role))")
        for (file, done) in zip(report.plan.files, report.progress.files) {
            #expect(done.route?.contains("libvirt storage volume streams") == true, "\(file.path): \(done.route ?? "-")")
            #expect(done.hostFilesystem.hasPrefix("unknown"), "\(file.path): \(done.hostFilesystem)")
            #expect(done.verification?.passed == true && done.errors.isEmpty, "\(file.path): \(done.errors)")
            #expect(!FileManager.default.fileExists(atPath: file.path), "\(file.path) stayed")
        }
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
        // No transient pool of lcm's is left on the device.
        let pools = try Connection(uri: DeployFixture.localURI).listAllStoragePools().map { try $0.name }.filter { $0.hasPrefix("lcm-hostfiles-") }
        #expect(pools.isEmpty, "\(pools)")

        let certificate = try world.lcm.run(["retire", "certificate", name])
        let signed = try JSONDecoder().decode(SignedCertificate.self, from: Data(certificate.stdout.utf8))
        #expect(signed.certificate.claimReasons.contains { $0.contains("only unlinked") }, "\(signed.certificate.claimReasons)")
        #expect(signed.certificate.files.allSatisfy { $0.hostFilesystem.hasPrefix("unknown") && $0.bytesVerified == $0.bytesWritten })
        #expect(try world.lcm.run(["retire", "verify-certificate", "--all"]).status == 0)
    }

    /// Other methods and verification modes, and what they let the certificate claim:
    /// dod-3pass with a sampled check is disposed but only Clear; zero passes without a check
    /// leave the desktop retired, not disposed, with no claim.
    @Test func methodsAndVerificationModesDecideTheClaim() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-RM-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let names = ["dod", "zero"].map { world.name($0) }
        let csv = world.scratch.file("methods.csv")
        try "device,desktop\n\(device),\(names[0])\n\(device),\(names[1])\n".write(to: csv, atomically: true, encoding: .utf8)
        try world.expectOK(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start"])

        let dod = try world.lcm.run(["retire", names[0], "--yes", "--method", "dod-3pass", "--verify", "sample", "--format", "json"])
        #expect(dod.status == 0, "\(dod.stderr)")
        let dodReport = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(dod.stdout.utf8)).first)
        #expect(dodReport.disposed && dodReport.claim == "Clear", "\(dodReport.claim ?? "-")")
        #expect(dodReport.progress.files.allSatisfy { $0.passesDone == 3 && $0.verification?.coverage == .sample }, "\(dodReport.progress.files)")
        let dodCertificate = try JSONDecoder().decode(SignedCertificate.self, from: Data(try world.lcm.run(["retire", "certificate", names[0]]).stdout.utf8))
        #expect(dodCertificate.certificate.claimReasons.contains { $0.contains("sampled") }, "\(dodCertificate.certificate.claimReasons)")

        let zero = try world.lcm.run(["retire", names[1], "--yes", "--method", "zero", "--verify", "none", "--format", "json"])
        #expect(zero.status == 0, "\(zero.stderr)")
        let zeroReport = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(zero.stdout.utf8)).first)
        #expect(!zeroReport.disposed && zeroReport.claim == "None", "\(zeroReport.claim ?? "-")")
        #expect(zeroReport.progress.files.allSatisfy { $0.passesDone == 1 && $0.verification == nil && $0.passes == [.constant(0)] })
        let status = try world.inventory().read { db in try String.fetchOne(db, sql: "SELECT status FROM desktop WHERE name = ?", arguments: [names[1]]) }
        #expect(status == "retired", "not verified, so not disposed")
        // Two certificates, one chain.
        let chain = try world.lcm.run(["retire", "verify-certificate", "--all"])
        #expect(chain.status == 0 && chain.stdout.contains("all 2 certificate(s) valid"), "\(chain.stdout)")
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")

        // The device, its desktops retired: disposed on the operator's evidence about its own
        // storage, with a certificate of its own that names its desktops' certificates.
        let deviceRun = try world.lcm.run(["retire", "--device", device, "--yes", "--host-sanitized-by", "nwipe PRNG pass, report 2026-118"])
        #expect(deviceRun.status == 0 && deviceRun.stdout.contains("device \(device): disposed"), "\(deviceRun.stderr)\(deviceRun.stdout)")
        let deviceStatus = try world.inventory().read { db in try String.fetchOne(db, sql: "SELECT status FROM device WHERE assetTag = ?", arguments: [device]) }
        #expect(deviceStatus == "disposed")
        let deviceCertificate = try JSONDecoder().decode(SignedCertificate.self, from: Data(try world.lcm.run(["retire", "certificate", device]).stdout.utf8)).certificate
        #expect(deviceCertificate.mediaInformation.subject == .device && deviceCertificate.mediaInformation.hostStorageSanitized == true
                && deviceCertificate.mediaInformation.hostStorageEvidence == "nwipe PRNG pass, report 2026-118", "\(deviceCertificate.mediaInformation)")
        #expect(deviceCertificate.claim == .clear && deviceCertificate.claimReasons.filter { $0.hasPrefix("desktop ") }.count == 2, "\(deviceCertificate.claimReasons)")
        #expect(try world.lcm.run(["retire", "verify-certificate", "--all"]).stdout.contains("all 3 certificate(s) valid"))
        #expect(try world.lcm.run(["retire", "--device", device, "--yes"]).status == LCMExitCode.conflict.rawValue, "disposed is final")
    }

    /// Bad requests are refused and change nothing. verify-only certifies files that were
    /// already zeroed, and refuses data; that retirement then continues with another method and
    /// takes the external snapshot overlays made behind lcm's back. A managed save image is
    /// wiped before libvirt deletes it. The golden version a remaining desktop uses is left as
    /// it was, and that desktop starts.
    @Test func verifyOnlyRefusalsAndTheSharedGolden() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-RV-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        let names = ["zeroed", "data", "keep", "saved"].map { world.name($0) }
        let csv = world.scratch.file("four.csv")
        try ("device,desktop\n" + names.map { "\(device),\($0)\n" }.joined()).write(to: csv, atomically: true, encoding: .utf8)
        try world.expectOK(["deploy", "--from-csv", csv.path, "--image", "gold", "--network", network, "--no-start"])
        let inventory = try world.inventory()
        func statuses() throws -> [String] {
            try inventory.read { db in try names.map { try String.fetchOne(db, sql: "SELECT status FROM desktop WHERE name = ?", arguments: [$0]) ?? "-" } }
        }
        let deployed = try statuses()

        // Refused, each with its code, and nothing changed.
        let refusals: [([String], LCMExitCode, String)] = [
            (["retire", "nosuch-\(world.tag)", "--yes"], .notFound, "nosuch-\(world.tag)"),
            (["retire", "gold", "--yes"], .notFound, "gold"),
            (["retire", "--device", "NOSUCH-\(world.tag)", "--yes"], .notFound, "NOSUCH-\(world.tag)"),
            (["retire", names[0], "--device", device, "--yes"], .usage, "--device"),
            (["retire", names[0]], .usage, "--yes"),
            (["retire", names[0], "--yes", "--destination", "landfill"], .usage, "landfill"),
            (["retire", names[0], "--yes", "--method", "shred"], .usage, "shred"),
            (["retire", "certificate", names[0]], .notFound, names[0]),
        ]
        for (arguments, code, named) in refusals {
            let run = try world.lcm.run(arguments)
            #expect(run.status == code.rawValue && run.stderr.contains(named), "\(arguments): \(run.status) \(run.stderr)")
        }
        #expect(try statuses() == deployed)
        #expect(try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM retirement") } == 0)
        let connection = try Connection(uri: DeployFixture.localURI)
        #expect(try names.allSatisfy { try connection.lookupDomain(name: $0) != nil }, "a refusal undefined a domain")

        // The golden version as the host holds it, before any retirement.
        let dryRun = try world.lcm.run(["retire", names[0], "--dry-run", "--format", "json"])
        let zeroedPlan = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(dryRun.stdout.utf8)).first).plan
        let golden = try #require(zeroedPlan.kept.first)
        let goldenHash = try ProgramRun.run("/usr/bin/sha256sum", [golden]).stdout

        // Files zeroed behind lcm (as another tool would): verify-only reads them back and certifies.
        for file in zeroedPlan.files where FileManager.default.fileExists(atPath: file.path) {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? UInt64)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file.path))
            try handle.truncate(atOffset: 0)
            try handle.truncate(atOffset: size)
            try handle.close()
        }
        let verified = try world.lcm.run(["retire", names[0], "--yes", "--method", "verify-only", "--format", "json"])
        #expect(verified.status == 0, "\(verified.stderr)")
        let verifiedReport = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(verified.stdout.utf8)).first)
        #expect(verifiedReport.disposed && verifiedReport.claim == "Clear", "\(verifiedReport.claim ?? "-")")
        #expect(verifiedReport.progress.files.allSatisfy { $0.passesDone == 0 && $0.verification?.passed == true && $0.bytesWritten == 0 })
        #expect(!verifiedReport.progress.overwrittenKeyslots.isEmpty, "the zeroed volumes' keyslots are gone with them")

        // An external snapshot taken behind lcm's back: libvirt points the disks at new,
        // unencrypted overlays named after them. They are the desktop's too.
        let snapshot = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "snapshot-create-as", names[1], "s1", "--disk-only"])
        #expect(snapshot.status == 0, "\(snapshot.stderr)")

        // Data is not zeros: verify-only fails, keeps every file, and the retirement continues
        // with a real method when asked.
        let refused = try world.lcm.run(["retire", names[1], "--yes", "--method", "verify-only"])
        #expect(refused.status == LCMExitCode.checkFailed.rawValue, "\(refused.status) \(refused.stderr)")
        let dataPlan = try #require(try inventory.read { db in
            try String.fetchOne(db, sql: "SELECT r.plan FROM retirement r JOIN desktop d ON d.id = r.desktopID WHERE d.name = ?", arguments: [names[1]])
        }).data(using: .utf8)!
        let kept = try JSONDecoder().decode(RetirePlan.self, from: dataPlan).files.filter { $0.volume != nil }
        #expect(!kept.isEmpty && kept.allSatisfy { FileManager.default.fileExists(atPath: $0.path) }, "deleted although not verified")
        let overlays = kept.filter { $0.role == "snapshot" }
        #expect(overlays.count == 2 && overlays.allSatisfy { $0.path.hasSuffix(".s1") && !$0.encrypted }, "\(kept.map { "\($0.role) \($0.path)" })")
        #expect(try world.lcm.run(["retire", names[1], "--yes"]).status == LCMExitCode.checkFailed.rawValue, "without --method it stays verify-only")
        let continued = try world.lcm.run(["retire", names[1], "--yes", "--method", "overwrite", "--format", "json"])
        #expect(continued.status == 0, "\(continued.stderr)")
        let continuedReport = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(continued.stdout.utf8)).first)
        #expect(continuedReport.disposed && continuedReport.claim == "Clear", "unencrypted overlays: \(continuedReport.claim ?? "-")")
        #expect(continuedReport.progress.files.allSatisfy { $0.passesDone == 1 && $0.notes.contains("method changed from verify-only to overwrite") },
                "\(continuedReport.progress.files.map(\.notes))")
        #expect(kept.allSatisfy { !FileManager.default.fileExists(atPath: $0.path) })
        // A desktop put away with `virsh managedsave`: libvirt would delete its memory image
        // (keys in clear) unwiped with the definition, so lcm overwrites and reads it back first.
        let uri = DeployFixture.localURI
        let started = try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "start", names[3]])
        #expect(started.status == 0, "\(started.stderr)")
        Thread.sleep(forTimeInterval: 2)
        let saved = try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "managedsave", names[3]])
        #expect(saved.status == 0, "\(saved.stderr)")
        let saveImage = "/var/lib/libvirt/qemu/save/\(names[3]).save"
        func magic() -> String {
            String(decoding: (FileManager.default.contents(atPath: saveImage) ?? Data()).prefix(8), as: UTF8.self)
        }
        #expect(magic() == "LibvirtQ", "not libvirt's save image")
        var killed = world.lcm
        killed.environment["LCM_FAILPOINT"] = "retire:managed-save-wiped:ran"
        let interrupted = try killed.run(["retire", names[3], "--yes"])
        #expect(interrupted.signaled && interrupted.status == SIGKILL, "\(interrupted.status) \(interrupted.stderr)")
        #expect(FileManager.default.fileExists(atPath: saveImage) && magic() != "LibvirtQ", "the save image was not overwritten before undefine")
        let finished = try world.lcm.run(["retire", names[3], "--yes", "--format", "json"])
        #expect(finished.status == 0, "\(finished.stderr)")
        let finishedReport = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(finished.stdout.utf8)).first)
        let saveIndex = try #require(finishedReport.plan.files.firstIndex { $0.role == "managed-save" })
        #expect(finishedReport.plan.files[saveIndex].path == saveImage)
        #expect(finishedReport.progress.files[saveIndex].verification?.passed == true && finishedReport.disposed)
        #expect(!FileManager.default.fileExists(atPath: saveImage))
        #expect(try connection.lookupDomain(name: names[3]) == nil)

        // The golden version the third desktop uses: unchanged, and that desktop starts on it.
        #expect(try ProgramRun.run("/usr/bin/sha256sum", [golden]).stdout == goldenHash)
        #expect(try statuses()[2] == deployed[2])
        let start = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", names[2]])
        #expect(start.status == 0, "\(start.stderr)")
        _ = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "destroy", names[2]])
        #expect(try world.lcm.run(["retire", "verify-certificate", "--all"]).stdout.contains("all 3 certificate(s) valid"))
    }

    /// What lcm does not sanitize is named, never left out: a recorded volume deleted from the
    /// pool behind lcm's back, a block and a network disk and an outside backing file added to
    /// the inactive definition; each keeps the claim at None and the desktop retired, not
    /// disposed. A desktop that ran has NVRAM and an swtpm log: both are wiped and read back.
    /// Between plan and wipe the NVRAM file is replaced by a link to a file outside, then given
    /// a second hard link: each run refuses it (exit 3) with the other file's bytes untouched,
    /// and the resumed run checks again before it finishes.
    @Test func whatLcmDoesNotSanitizeIsNamedAndLinksAreRefused() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-RE-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        let name = world.name("ev")
        try world.expectOK(["deploy", "--image", "gold", "--device", device, "--name", name, "--network", network, "--no-start"])
        let uri = DeployFixture.localURI
        // Run once: libvirt makes its NVRAM and swtpm its state and log.
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "start", name]).status == 0)
        Thread.sleep(forTimeInterval: 2)
        _ = try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "destroy", name])
        let nvram = "/var/lib/libvirt/qemu/nvram/\(name)_VARS.fd"
        let swtpmLog = "/var/log/swtpm/libvirt/qemu/\(name)-swtpm.log"
        #expect(FileManager.default.fileExists(atPath: nvram) && FileManager.default.fileExists(atPath: swtpmLog))

        // Behind lcm's back: an overlay named after the desktop on a backing file lcm never
        // recorded, a block and a network disk in the inactive definition, the data volume deleted.
        let base = world.scratch.file("outside-base.qcow2").path, overlay = world.scratch.file("\(name)-extra.qcow2").path
        #expect(try ProgramRun.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", base, "1M"]).status == 0)
        #expect(try ProgramRun.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay]).status == 0)
        let baseHash = try FileDigest.sha256(path: base)
        var xml = try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "dumpxml", "--inactive", name]).stdout
        let extraDisks = """
            <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(overlay)'/>
              <backingStore type='file'><format type='qcow2'/><source file='\(base)'/></backingStore><target dev='vdw' bus='virtio'/></disk>
            <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/lcm-no-such-disk'/><target dev='vdx' bus='virtio'/></disk>
            <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd' name='export1'><host name='127.0.0.1' port='10809'/></source><target dev='vdy' bus='virtio'/></disk>
            </devices>
            """
        xml = xml.replacingOccurrences(of: "</devices>", with: extraDisks)
        let edited = world.scratch.file("edited.xml")
        try xml.write(to: edited, atomically: true, encoding: .utf8)
        let defined = try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "define", edited.path])
        try #require(defined.status == 0, "\(defined.stderr)")
        let dataVolume = DesktopSettings.dataVolume(name)
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", uri, "vol-delete", dataVolume, "--pool", DeviceStoragePool.name]).status == 0)

        let dryRun = try world.lcm.run(["retire", name, "--dry-run", "--format", "json"])
        try #require(dryRun.status == 0, "\(dryRun.stderr)")
        let plan = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(dryRun.stdout.utf8)).first).plan
        let named = (plan.notSanitized ?? []).map(\.item)
        for expected in [dataVolume, "block device /dev/lcm-no-such-disk", "network disk nbd:export1 on 127.0.0.1", "backing file \(base)"] {
            #expect(named.contains { $0.contains(expected) }, "\(expected) not named: \(named)")
        }
        #expect(named.count == 4, "\(named)")
        #expect(plan.files.contains { $0.role == "nvram" && $0.path == nvram } && plan.files.contains { $0.role == "swtpm-log" && $0.path == swtpmLog },
                "\(plan.files.map { "\($0.role) \($0.path)" })")
        #expect(plan.files.contains { $0.role == "disk" && $0.path == overlay } && !plan.files.contains { $0.path == base })
        let text = try world.lcm.run(["retire", name, "--dry-run"])
        #expect(text.stdout.contains("NOT SANITIZED by lcm: backing file \(base)"), "\(text.stdout)")

        // Planned, then killed before any file is overwritten.
        var killed = world.lcm
        killed.environment["LCM_FAILPOINT"] = "retire:keys-destroyed:recorded"
        let first = try killed.run(["retire", name, "--yes", "--shutdown-timeout", "5"])
        #expect(first.signaled && first.status == SIGKILL, "\(first.status) \(first.stderr)")
        // The NVRAM file's name now leads to a file outside: refused, the outside file untouched.
        let victim = world.scratch.file("victim")
        try Data((0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: victim)
        let victimBytes = try Data(contentsOf: victim)
        // Put aside in its own directory: the same inode comes back later.
        let aside = nvram + ".aside"
        defer { unlink(aside) }
        #expect(rename(nvram, aside) == 0)
        #expect(symlink(victim.path, nvram) == 0)
        let linked = try world.lcm.run(["retire", name, "--yes"])
        #expect(linked.status == LCMExitCode.checkFailed.rawValue && linked.stderr.contains(nvram) && linked.stderr.contains("symbolic link"),
                "\(linked.status) \(linked.stderr)")
        #expect(try Data(contentsOf: victim) == victimBytes, "written through the link")
        // The planned file back, now with a second name: refused again by the resumed run.
        #expect(unlink(nvram) == 0)
        #expect(rename(aside, nvram) == 0)
        let nvramBytes = try Data(contentsOf: URL(fileURLWithPath: nvram))
        let secondName = nvram + ".second-name"
        defer { unlink(secondName) }
        #expect(link(nvram, secondName) == 0)
        let hardLinked = try world.lcm.run(["retire", name, "--yes"])
        #expect(hardLinked.status == LCMExitCode.checkFailed.rawValue && hardLinked.stderr.contains("2 hard links"), "\(hardLinked.status) \(hardLinked.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: secondName)) == nvramBytes, "the second name's file was written")
        #expect(unlink(secondName) == 0)

        // The resumed run finishes: everything it could reach wiped, the rest named, claim None.
        // Exit 3: the retirement ran to its end, but the desktop is not disposed; stderr says why.
        let last = try world.lcm.run(["retire", name, "--yes", "--format", "json"])
        #expect(last.status == LCMExitCode.checkFailed.rawValue && last.stderr.contains("not disposed") && last.stderr.contains(base),
                "\(last.status) \(last.stderr)")
        let report = try #require(try JSONDecoder.iso8601.decode([RetireReport].self, from: Data(last.stdout.utf8)).first)
        #expect(!report.disposed && report.claim == "None" && report.state == .closed, "\(report.claim ?? "-") \(report.state)")
        let status = try world.inventory().read { db in try String.fetchOne(db, sql: "SELECT status FROM desktop WHERE name = ?", arguments: [name]) }
        #expect(status == "retired", "not everything was sanitized, so not disposed")
        for path in [nvram, swtpmLog, overlay] { #expect(!FileManager.default.fileExists(atPath: path), "\(path) stayed") }
        #expect(try FileDigest.sha256(path: base) == baseHash, "the outside backing file was touched")
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
        let signed = try JSONDecoder().decode(SignedCertificate.self, from: Data(try world.lcm.run(["retire", "certificate", name]).stdout.utf8)).certificate
        #expect((signed.notSanitized ?? []).map(\.item) == named, "\(signed.notSanitized ?? [])")
        #expect(signed.claim == .none && named.allSatisfy { item in signed.claimReasons.contains { $0.contains(item) && $0.contains("not sanitized by lcm") } },
                "\(signed.claimReasons)")
        for role in ["nvram", "swtpm-log"] {
            let evidence = try #require(signed.files.first { $0.role == role })
            #expect(evidence.errors.isEmpty && evidence.passes == 1 && evidence.bytesWritten > 0 && evidence.verification.hasSuffix(" 0 differing"),
                    "\(evidence)")
        }
        #expect(try world.lcm.run(["retire", "verify-certificate", "--all"]).status == 0, "None is what the evidence supports")
    }

    /// A certificate proves something only against a key the auditor trusts: without one,
    /// verification refuses to run; with the admin's exported key it passes and names the signer;
    /// with another key it fails (3). Needs no libvirtd: a device with no desktops is retired.
    @Test func verificationNeedsATrustedKeyAndExportKeyGivesIt() throws {
        let scratch = ScratchDirectory(prefix: "lcm-retire-trust")
        let admin = LCMRunner(home: scratch.file("admin").path)
        let auditor = LCMRunner(home: scratch.file("auditor").path)
        let hashLog = scratch.file("outside/certificates.log").path
        try FileManager.default.createDirectory(at: scratch.file("outside"), withIntermediateDirectories: true)
        #expect(try admin.run(["procure", "add", "--asset-tag", "DEV-T1", "--serial", "SN-T1"]).status == 0)
        let logInHome = try admin.run(["retire", "--device", "DEV-T1", "--yes", "--append-hash-to", scratch.file("admin/hashes.log").path])
        #expect(logInHome.status == LCMExitCode.usage.rawValue && logInHome.stderr.contains("inside lcm's home"), "\(logInHome.stderr)")
        let retired = try admin.run(["retire", "--device", "DEV-T1", "--yes", "--host-sanitized-by", "vendor secure erase, ticket 42",
                                     "--append-hash-to", hashLog])
        try #require(retired.status == 0, "\(retired.stdout)\(retired.stderr)")
        let certificate = try #require(try FileManager.default.contentsOfDirectory(atPath: scratch.file("admin/certificates").path).first)
        let path = scratch.file("admin/certificates/\(certificate)").path
        let logLine = try String(contentsOfFile: hashLog, encoding: .utf8)
        let digest = try FileDigest.sha256(path: path)
        #expect(logLine == "1 \(digest) \(path)\n", "\(logLine)")

        let exported = try admin.run(["retire", "export-key"])
        #expect(exported.status == 0 && exported.stdout.hasPrefix("-----BEGIN PUBLIC KEY-----\n"), "\(exported.stdout)\(exported.stderr)")
        let keyFile = scratch.file("admin.pem").path
        try Data(exported.stdout.utf8).write(to: URL(fileURLWithPath: keyFile))
        let json = try JSONDecoder().decode(ExportedCertificateKey.self, from: Data(try admin.run(["retire", "export-key", "--format", "json"]).stdout.utf8))
        #expect(json.publicKeyPEM == exported.stdout && exported.stderr.contains(json.fingerprint))

        // The auditor's machine has no lcm home: no anchor, no verdict.
        let unanchored = try auditor.run(["retire", "verify-certificate", path])
        #expect(unanchored.status == LCMExitCode.notFound.rawValue && unanchored.stderr.contains("no trusted key"), "\(unanchored.stderr)")
        #expect(unanchored.stdout.isEmpty && unanchored.stderr.contains("--trusted-key"))

        let anchored = try auditor.run(["retire", "verify-certificate", path, "--trusted-key", keyFile, "--hash-log", hashLog])
        #expect(anchored.status == 0 && anchored.stdout.contains("signed by \(json.fingerprint)"), "\(anchored.stdout)\(anchored.stderr)")
        #expect(anchored.stdout.contains("trusted key \(json.fingerprint) (\(keyFile))"))
        #expect(try auditor.run(["retire", "verify-certificate", path, "--trusted-fingerprint", json.fingerprint]).status == 0)
        #expect(try admin.run(["retire", "verify-certificate", "--all"]).stdout.contains("signed by \(json.fingerprint)"), "the home's own key")

        // Another home's key, a missing file, a file that is no key, a fingerprint that is not one.
        let otherKey = try LCMRunner(home: scratch.file("other").path).run(["retire", "export-key"]).stdout
        let otherFile = scratch.file("other.pem").path
        try Data(otherKey.utf8).write(to: URL(fileURLWithPath: otherFile))
        let foreign = try auditor.run(["retire", "verify-certificate", path, "--trusted-key", otherFile])
        #expect(foreign.status == LCMExitCode.checkFailed.rawValue && foreign.stdout.contains("not the trusted key"), "\(foreign.stdout)")
        #expect(try auditor.run(["retire", "verify-certificate", path, "--trusted-key", scratch.file("none.pem").path]).status == LCMExitCode.notFound.rawValue)
        #expect(try auditor.run(["retire", "verify-certificate", path, "--trusted-key", path]).status == LCMExitCode.dataError.rawValue)
        #expect(try auditor.run(["retire", "verify-certificate", path, "--trusted-fingerprint", "abc"]).status == LCMExitCode.usage.rawValue)

        // A signing key other users can read is refused, like the master key.
        chmod(scratch.file("admin/keys/certificate-signing.key").path, 0o644)
        let exposed = try admin.run(["retire", "export-key"])
        #expect(exposed.status == LCMExitCode.dataError.rawValue && exposed.stderr.contains("readable or writable by other users"), "\(exposed.stderr)")
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.hexString }
}
