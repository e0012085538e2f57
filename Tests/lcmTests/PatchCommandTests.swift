import Archive
import Foundation
import GRDB
import Libvirt
import LCMKit
import LCMTestSupport
import Testing

/// Files a patch run applies, written into a test's scratch directory.
struct PatchFiles {
    let reg: String, msu: String, cmd: String
    /// The KB the .msu's name carries, as `patch status` matches it against CBS.
    static let knowledgeBase = "KB5031356"

    init(_ scratch: ScratchDirectory, level: Int = 7) throws {
        reg = scratch.file("fix-\(level).reg").path
        try """
            REGEDIT4

            [HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\LCMTest]
            "Level"=dword:\(String(format: "%08x", level))
            "Note"="patched offline"

            [HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LCMTestSvc]
            "Start"=dword:00000004

            """.write(toFile: reg, atomically: true, encoding: .utf8)
        msu = scratch.file("windows10.0-kb5031356-x64.msu").path
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2654435761 >> 7) }
        FileManager.default.createFile(atPath: msu, contents: Data(bytes))
        cmd = scratch.file("setup.cmd").path
        // Each test's own script, so tests running side by side on the host's pool never share a
        // patch medium (a medium's id comes from its files).
        try "@echo off\r\nrem \(scratch.path)\r\necho installing\r\nexit /b 0\r\n".write(toFile: cmd, atomically: true, encoding: .utf8)
    }
}

extension DeployWorld {
    /// A libvirt network of the test's own (the host's "default" may be inactive); destroyed by the returned closure.
    func makeNetwork() throws -> (name: String, destroy: () -> Void) {
        let network = "lcm-t\(tag)"
        let xml = scratch.file("net.xml")
        try "<network><name>\(network)</name><bridge name='lcmbr\(tag)'/></network>".write(to: xml, atomically: true, encoding: .utf8)
        let created = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "net-create", xml.path])
        try #require(created.status == 0, "\(created.stderr)")
        return (network, { _ = try? ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "net-destroy", network]) })
    }

    /// Volume rows of a desktop: role → names.
    func volumeRoles(_ desktop: String) throws -> [String: [String]] {
        let rows = try inventory().read { db in
            try Row.fetchAll(db, sql: "SELECT v.role, v.name FROM volume v JOIN desktop d ON d.id = v.desktopID WHERE d.name = ? ORDER BY v.id",
                             arguments: [desktop])
        }
        return Dictionary(grouping: rows, by: { $0["role"] as String }).mapValues { $0.map { $0["name"] as String } }
    }

    /// Starts lcm in the background (for kills and overlapping runs); stdout to `output` or nowhere.
    func startLCM(_ arguments: [String], output: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = BuiltProducts.executable("lcm")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(lcm.environment.merging(["LCM_HOME": home]) { $1 }) { $1 }
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits (up to 240 s) for a booted stand-in desktop to power itself off; returns its domain.
    func waitForPowerOff(_ desktop: String, label: String) throws -> Domain {
        let connection = try Connection(uri: DeployFixture.localURI)
        let domain = try #require(try connection.lookupDomain(name: desktop))
        let clock = ContinuousClock(), start = clock.now
        while try domain.isActive, clock.now - start < .seconds(240) { Thread.sleep(forTimeInterval: 1) }
        #expect(try !domain.isActive, "\(desktop) did not power off within 240 s")
        print(String(format: "\(label): boot to power-off %.1f s", Double((clock.now - start).components.seconds)))
        return domain
    }

    func patchRows(_ desktop: String) throws -> Int {
        try inventory().read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM patchItem p JOIN desktop d ON d.id = p.desktopID WHERE d.name = ?", arguments: [desktop]) ?? 0
        }
    }

    func hivexget(_ hive: String, _ key: String, _ value: String) throws -> String {
        let run = try ProgramRun.run("/usr/bin/hivexget", [hive, key, value])
        try #require(run.status == 0, "hivexget \(key) \(value): \(run.stderr)")
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `lcm manage patch` against the real libvirtd, real libguestfs and real qcow2 files.
@Suite("lcm manage patch (real libvirtd and libguestfs)", .serialized)
struct PatchCommandTests {
    /// Two desktops patched in one launch, each in a new encrypted layer switched in; the .reg read
    /// back by hivexget, the staged files, runner and queue found offline by guestfish; a golden
    /// image patched into its next version; a running desktop queued, then patched once stopped.
    @Test func desktopsAndAGoldenImageArePatchedOfflineInNewLayers() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-P-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        let names = ["one", "two"].map { world.name($0) }
        let csv = world.scratch.file("patch.csv")
        try "device,desktop,computer_name\n\(device),\(names[0]),PC-ONE\n\(device),\(names[1]),PC-TWO\n".write(to: csv, atomically: true, encoding: .utf8)
        try world.expectOK(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start", "--network", network])
        let files = try PatchFiles(world.scratch)
        let windows = DeployFixture.Disk.golden.spec.layout.windowsPartition.number

        let run = try world.lcm.run(["manage", "patch", names[0], names[1], "--add", files.reg, files.msu, files.cmd, "--format", "json"])
        try #require(run.status == 0, "\(run.stderr)\n\(run.stdout)")
        let report = try JSONDecoder().decode(DesktopPatchReport.self, from: Data(run.stdout.utf8))
        #expect(report.outcomes.map(\.state) == [.patched, .patched], "\(report.outcomes.map { $0.error ?? "" })")
        #expect(report.launches == 1, "two desktops patched in one appliance launch")
        print(String(format: "patch-tests: 2 desktops in %.1f s, %d launch(es)", report.secondsTotal, report.launches))
        for outcome in report.outcomes {
            #expect(outcome.registry?.valuesSet == 3 && (outcome.registry?.checked ?? 0) >= 3, "\(String(describing: outcome.registry))")
            #expect(outcome.staged.count == 2 && outcome.staged[0].hasSuffix("-windows10.0-kb5031356-x64.msu") && outcome.staged[1].hasSuffix("-setup.cmd"),
                    "\(outcome.staged)")
        }

        // The new layer is the top; the deployed one lies under it; both encrypted, golden plain.
        let roles = try world.volumeRoles(names[0])
        #expect(roles["os"] == ["\(names[0])-os-2.qcow2"] && roles["os-layer"] == ["\(names[0])-os.qcow2"] && roles["os-pending"] == nil, "\(roles)")
        let top = "\(DeployFixture.poolDirectory)/\(names[0])-os-2.qcow2"
        let info = try ProgramRun.run("/usr/bin/qemu-img", ["info", "-U", "--backing-chain", "--output=json", top])
        let chain = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]])
        #expect(chain.count == 3, "\(info.stdout)")
        #expect(chain.map { $0["encrypted"] as? Bool ?? false } == [true, true, false])
        #expect((chain[1]["filename"] as? String) == "\(DeployFixture.poolDirectory)/\(names[0])-os.qcow2")
        // The domain names the whole chain with the secret of each encrypted layer, and validates.
        let xml = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", names[0]])
        #expect(xml.stdout.contains("<source file='\(top)'") || xml.stdout.contains("<source file=\"\(top)\""), "\(xml.stdout)")
        #expect(xml.stdout.contains("<backingStore type='file'>") || xml.stdout.contains("<backingStore type=\"file\">"), "\(xml.stdout)")
        let xmlFile = world.scratch.file("domain.xml")
        try xml.stdout.write(to: xmlFile, atomically: true, encoding: .utf8)
        let validated = try ProgramRun.run("/usr/bin/virt-xml-validate", [xmlFile.path, "domain"])
        #expect(validated.status == 0, "\(validated.stderr)\(validated.stdout)")

        // Read back outside lcm: qemu-img decrypts, guestfish reads files, hivexget the hives.
        let copies = try world.plainCopies(names.map { ($0, "os") })
        let hives = world.scratch.file("hives")
        try FileManager.default.createDirectory(at: hives, withIntermediateDirectories: true)
        let listing = try world.guestfish(copies, partition: windows) { index in
            ["download /Windows/System32/config/SYSTEM \(hives.path)/SYSTEM-\(index)",
             "download /Windows/System32/config/SOFTWARE \(hives.path)/SOFTWARE-\(index)",
             "cat /\(BootRunnerContract.manifestPath)",
             "cat /\(BootRunnerContract.queueDirectory)/\(report.outcomes[index].staged[0])",
             "is-file /Windows/System32/GroupPolicy/Machine/Scripts/Startup/\(StartupScriptRunner.commandFile)",
             "cat /Windows/System32/GroupPolicy/gpt.ini"]
        }
        for index in names.indices {
            #expect(try world.hivexget("\(hives.path)/SOFTWARE-\(index)", "Policies\\LCMTest", "Level") == "7")
            #expect(try world.hivexget("\(hives.path)/SOFTWARE-\(index)", "Policies\\LCMTest", "Note") == "patched offline")
            // CurrentControlSet is control set 2 in this image (Select\Current = 2).
            #expect(try world.hivexget("\(hives.path)/SYSTEM-\(index)", "ControlSet002\\Services\\LCMTestSvc", "Start") == "4")
            #expect(try world.hivexget("\(hives.path)/SOFTWARE-\(index)", "Policies\\Microsoft\\Windows\\System", "MaxGPOScriptWait") == "0")
            for staged in report.outcomes[index].staged { #expect(listing.contains(staged), "\(listing)") }
        }
        // The staged files are on one patch medium, not in the layers: each queue holds placeholders
        // and a manifest naming the file's path on the medium and its hash; both domains attach
        // the medium, whose ISO holds the files intact.
        let mediumID = try #require(PatchMedium.id(for: try PatchSet(paths: [files.reg, files.msu, files.cmd])))
        let msuOnMedium = "\(mediumID)/01-windows10.0-kb5031356-x64.msu"
        #expect(listing.components(separatedBy: "medium=\(msuOnMedium),sha256=\(report.items[1].sha256)").count == 3, "\(listing)")
        #expect(listing.components(separatedBy: "patch medium at \(msuOnMedium)").count == 3, "the placeholders: \(listing)")
        let mediumPath = "\(DeployFixture.poolDirectory)/\(mediumID).iso"
        for name in names {
            let domainXML = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", name]).stdout
            #expect(try PatchMedium.attachedMedia(in: domainXML) == [mediumPath], "\(domainXML)")
        }
        let medium = try ArchiveReader(contentsOf: URL(fileURLWithPath: mediumPath))
        var mediumFiles: [String: Data] = [:]
        while let entry = try medium.nextEntry() { mediumFiles[entry.path] = try medium.readData() }
        medium.close()
        #expect(mediumFiles[msuOnMedium] == (try Data(contentsOf: URL(fileURLWithPath: files.msu))), "\(mediumFiles.keys)")
        #expect(mediumFiles["\(mediumID)/02-setup.cmd"] == (try Data(contentsOf: URL(fileURLWithPath: files.cmd))))
        #expect(listing.contains("{42B5FAAE-6536-11D2-AE5A-0000F87571E3}"), "\(listing)")

        // Status before any boot: the .reg done, the rest staged; CBS does not know the KB yet.
        let status = try world.lcm.run(["manage", "patch", "status", names[0], "--format", "json"])
        #expect(status.status == 0, "\(status.stderr)")
        let statuses = try JSONDecoder.iso8601.decode([DesktopPatchStatus].self, from: Data(status.stdout.utf8))
        let first = try #require(statuses.first)
        #expect(first.readBack && first.queuedInImage.count == 2, "\(first)")
        #expect(first.items.map(\.state) == [.succeeded, .staged, .staged], "\(first.items)")
        #expect(first.items[1].windows == "\(PatchFiles.knowledgeBase) not installed", "\(first.items)")
        let desktopStatus = try world.lcm.run(["manage", "status", names[0], "--format", "json"])
        let lastPatch = try #require(try JSONDecoder().decode([DesktopStatusReport].self, from: Data(desktopStatus.stdout.utf8)).first?.lastPatch)
        #expect(lastPatch.hasSuffix(": fix-7.reg succeeded, windows10.0-kb5031356-x64.msu staged, setup.cmd staged"), "\(lastPatch)")

        // A golden image: its next version, the parent untouched.
        let parentPath = try #require(try world.inventory().read { db in try String.fetchOne(db, sql: "SELECT path FROM imageVersion WHERE version = '1'") })
        let parentHash = try FileDigest.sha256(path: parentPath)
        // Killed at each journaled step first (past the launch: the version published with its
        // patch items, the operation not yet recorded complete): recovery leaves the catalog and
        // the store as they were, and the run below is the rerun that succeeds once.
        try CrashRecovery.killDerivation(world.lcm, kind: "image-patch", ["manage", "patch", "--image", "gold", "--add", files.reg, files.cmd],
                                         at: CrashRecovery.derivationPoints(kind: "image-patch") + ["image-patch:publish:recorded"])
        let imagePatch = try world.lcm.run(["manage", "patch", "--image", "gold", "--add", files.reg, files.cmd, "--format", "json"])
        try #require(imagePatch.status == 0, "\(imagePatch.stderr)")
        let made = try JSONDecoder.iso8601.decode(ImagePatchReport.self, from: Data(imagePatch.stdout.utf8))
        #expect(made.version == "2" && made.parent == "gold:1" && made.outcome.registry.valuesSet == 3 && made.outcome.queued.count == 1, "\(made)")
        #expect(try FileDigest.sha256(path: parentPath) == parentHash, "the parent version changed")
        let imageHives = world.scratch.file("image-hives")
        try FileManager.default.createDirectory(at: imageHives, withIntermediateDirectories: true)
        _ = try world.guestfish([made.path], partition: windows) { _ in ["download /Windows/System32/config/SOFTWARE \(imageHives.path)/SOFTWARE"] }
        #expect(try world.hivexget("\(imageHives.path)/SOFTWARE", "Policies\\LCMTest", "Level") == "7")

        // Selection by inventory status (both were deployed with --no-start: "stopped"), one
        // desktop per appliance launch.
        let selected = try world.lcm.run(["manage", "patch", "--status", "stopped", "--max-parallel", "1", "--add", files.reg, "--format", "json"])
        try #require(selected.status == 0, "\(selected.stderr)\n\(selected.stdout)")
        let selectedReport = try JSONDecoder().decode(DesktopPatchReport.self, from: Data(selected.stdout.utf8))
        #expect(selectedReport.outcomes.map(\.desktop) == names.sorted() && selectedReport.outcomes.allSatisfy { $0.state == .patched },
                "\(selectedReport.outcomes)")
        #expect(selectedReport.launches == 2, "--max-parallel 1: one launch per desktop")
        let noneSelected = try world.lcm.run(["manage", "patch", "--status", "retired", "--add", files.reg, "--format", "json"])
        #expect(noneSelected.status == 0, "\(noneSelected.stderr)")
        #expect(try JSONDecoder().decode(DesktopPatchReport.self, from: Data(noneSelected.stdout.utf8)).outcomes.isEmpty)
        #expect(try world.volumeRoles(names[1])["os"] == ["\(names[1])-os-3.qcow2"])

        // A running desktop is not touched: queued, then patched once it has stopped.
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", names[1]]).status == 0)
        let later = try PatchFiles(world.scratch, level: 9)
        let queued = try world.lcm.run(["manage", "patch", names[1], "--add", later.reg, "--format", "json"])
        #expect(queued.status == 0, "\(queued.stderr)")
        let queuedReport = try JSONDecoder().decode(DesktopPatchReport.self, from: Data(queued.stdout.utf8))
        #expect(queuedReport.outcomes.map(\.state) == [.queued] && queuedReport.launches == 0)
        #expect(try world.volumeRoles(names[1])["os"] == ["\(names[1])-os-3.qcow2"], "the running desktop's layers changed")
        let whileRunning = try world.lcm.run(["manage", "patch", "--apply-queued", "--format", "json"])
        #expect(whileRunning.status == 0, "\(whileRunning.stderr)")
        #expect(try world.volumeRoles(names[1])["os"] == ["\(names[1])-os-3.qcow2"], "applied while running")
        // The device's libvirt hook applies it once the desktop stops, without calling libvirtd itself.
        // (The hook's lcm inherits no environment: the accelerator comes from the home, as doctor leaves it.)
        try "\(LCMRunner.testAccelerator)\n".write(toFile: world.home + "/accelerator", atomically: true, encoding: .utf8)
        let hook = try world.lcm.run(["manage", "patch", "hook", "--format", "json"])
        try #require(hook.status == 0, "\(hook.stderr)")
        defer { _ = try? world.lcm.run(["manage", "patch", "hook", "--uninstall"]) }
        #expect(hook.stdout.contains("\"daemonReloaded\" : true"), "\(hook.stdout)")
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "destroy", names[1]]).status == 0)
        let clock = ContinuousClock(), stopped = clock.now
        func hookLogText() -> String { (try? String(contentsOfFile: world.home + "/patches/hook.log", encoding: .utf8)) ?? "" }
        while !hookLogText().contains("\n"), clock.now - stopped < .seconds(300) { Thread.sleep(forTimeInterval: 2) }
        let hookLog = hookLogText()
        #expect(try world.volumeRoles(names[1])["os"] == ["\(names[1])-os-4.qcow2"], "the hook did not apply the queued patch: \(hookLog)")
        #expect(hookLog.hasPrefix("patched 1, queued 0, failed 0"), "\(hookLog)")
        print(String(format: "patch-tests: hook applied the queued patch %.1f s after the stop", Double((clock.now - stopped).components.seconds)))
        #expect(!FileManager.default.fileExists(atPath: world.home + "/patches/queued/" + names[1]), "the queue marker stayed")
        let queuedLeft = try world.inventory().read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM patchItem WHERE state = 'queued'") }
        #expect(queuedLeft == 0)
        let again = try world.plainCopies([(names[1], "os")])
        let laterHive = world.scratch.file("later-hives")
        try FileManager.default.createDirectory(at: laterHive, withIntermediateDirectories: true)
        _ = try world.guestfish(again, partition: windows) { _ in ["download /Windows/System32/config/SOFTWARE \(laterHive.path)/SOFTWARE"] }
        #expect(try world.hivexget("\(laterHive.path)/SOFTWARE", "Policies\\LCMTest", "Level") == "9")
        #expect(try PatchMedium.attachedMedia(in: try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", names[1]]).stdout)
                == [mediumPath], "its staged items have not run: the medium stays")

        // A patch run undone across the fleet: --run selects the desktops whose current layer that
        // run made (names[1] has had a newer one since), --dry-run first changes nothing.
        let runPrefix = String(selectedReport.runID.prefix(8))
        let rolesBefore = try names.map { try world.volumeRoles($0) }
        let planned = try world.lcm.run(["manage", "rollback", "--run", runPrefix, "--dry-run", "--format", "json"])
        try #require(planned.status == 0, "\(planned.stderr)")
        let plan = try JSONDecoder().decode(DesktopRollbackReport.self, from: Data(planned.stdout.utf8))
        #expect(plan.dryRun && plan.outcomes.map(\.desktop) == [names[0]] && plan.outcomes.first?.state == .planned, "\(plan)")
        #expect(plan.outcomes.first?.from == "\(names[0])-os-3.qcow2" && plan.outcomes.first?.to == "\(names[0])-os-2.qcow2"
                && plan.outcomes.first?.itemsRolledBack == ["fix-7.reg"], "\(plan)")
        #expect(try names.map { try world.volumeRoles($0) } == rolesBefore, "the dry run changed layers")
        let undone = try world.lcm.run(["manage", "rollback", "--run", runPrefix, "--quiet"])
        #expect(undone.status == 0 && undone.stdout.hasPrefix("rolled back 1, failed 0 (0 appliance launches"), "\(undone.stdout) \(undone.stderr)")
        #expect(try world.volumeRoles(names[0])["os"] == ["\(names[0])-os-2.qcow2"] && world.volumeRoles(names[1]) == rolesBefore[1])
        let unknownRun = try world.lcm.run(["manage", "rollback", "--run", "00000000"])
        #expect(unknownRun.status == LCMExitCode.notFound.rawValue, "\(unknownRun.stderr)")
        let shortRun = try world.lcm.run(["manage", "rollback", "--run", "abc"])
        #expect(shortRun.status == LCMExitCode.usage.rawValue, "\(shortRun.stderr)")

        // Patch, roll back, retire: the rolled-back layer's keyslots were erased before it was
        // deleted, and the certificate cites that and claims Purge.
        let rolledBackLayer = "\(names[0])-os-3.qcow2"
        let rolledBackCopy = try world.inventory().read { db in
            try Row.fetchOne(db, sql: "SELECT destroyedAt, destroyedHow FROM keyCopy WHERE location = 'luks-keyslots' AND detail LIKE ?",
                             arguments: ["%/" + rolledBackLayer])
        }
        #expect((rolledBackCopy?["destroyedHow"] as String?)?.contains("LUKS header (every keyslot) overwritten") == true
                && (rolledBackCopy?["destroyedHow"] as String?)?.contains("(rolled back)") == true, "\(String(describing: rolledBackCopy))")
        let retired = try world.lcm.run(["retire", names[0], "--yes", "--format", "json"])
        try #require(retired.status == 0, "\(retired.stderr)")
        let certificate = try JSONDecoder().decode(SignedCertificate.self, from: Data(try world.lcm.run(["retire", "certificate", names[0]]).stdout.utf8)).certificate
        #expect(certificate.claim == .purge, "\(certificate.claimReasons)")
        #expect(certificate.keyCopies.allSatisfy { $0.destroyed }, "\(certificate.keyCopies)")
        #expect(certificate.keyCopies.contains { $0.kind == "luks-keyslots" && $0.location.contains("/\(rolledBackLayer) on ") && $0.how.contains("rolled back") },
                "\(certificate.keyCopies)")

        // The disposed desktop is history: fleet-wide runs leave it out. With names[1] running,
        // --all queues its patch and opens no disk.
        _ = try world.lcm.run(["manage", "patch", "hook", "--uninstall"])
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", names[1]]).status == 0)
        let fleet = try world.lcm.run(["manage", "patch", "--all", "--add", later.reg, "--format", "json"])
        #expect(fleet.status == 0, "\(fleet.stderr)")
        let fleetReport = try JSONDecoder().decode(DesktopPatchReport.self, from: Data(fleet.stdout.utf8))
        #expect(fleetReport.outcomes.map(\.desktop) == [names[1]] && fleetReport.outcomes.first?.state == .queued && fleetReport.launches == 0,
                "\(fleetReport.outcomes)")
        let readBack = try world.lcm.run(["manage", "patch", "status", "--format", "json"])
        #expect(try JSONDecoder.iso8601.decode([DesktopPatchStatus].self, from: Data(readBack.stdout.utf8)).map(\.desktop) == [names[1]], "\(readBack.stdout)")
        let deviceRollback = try world.lcm.run(["manage", "rollback", "--device", device, "--dry-run", "--shutdown", "--format", "json"])
        #expect(try JSONDecoder().decode(DesktopRollbackReport.self, from: Data(deviceRollback.stdout.utf8)).outcomes.map(\.desktop) == [names[1]],
                "\(deviceRollback.stdout)\(deviceRollback.stderr)")
        let fleetStatus = try world.lcm.run(["manage", "status", "--format", "json"])
        #expect(try JSONDecoder().decode([DesktopStatusReport].self, from: Data(fleetStatus.stdout.utf8)).map(\.desktop).filter { $0.contains(world.tag) } == [names[1]])
        let named = try world.lcm.run(["manage", "status", names[0], "--format", "json"])
        #expect(try JSONDecoder().decode([DesktopStatusReport].self, from: Data(named.stdout.utf8)).first?.status == "disposed", "asked for by name")
        // Asked for by name, it is refused: not patched, not deployed again, its records kept.
        for refused in [["manage", "patch", names[0], "--add", later.reg], ["deploy", "--undo", names[0], "--discard-user-data"],
                        ["deploy", "--image", "gold:1", "--device", device, "--name", names[0], "--no-start", "--network", network]] {
            let run = try world.lcm.run(refused)
            #expect(run.status == LCMExitCode.conflict.rawValue && run.stderr.contains("disposed"), "\(refused): \(run.stderr)")
        }
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "destroy", names[1]]).status == 0)
        // Its image version is in use by the live desktop only, then by none.
        let inUse = try world.lcm.run(["image", "rm", "gold:1"])
        #expect(inUse.status == LCMExitCode.conflict.rawValue && inUse.stderr.contains("1 desktop(s): \(names[1])"), "\(inUse.stderr)")

        // Every layer goes with the desktop, each keyslot copy erased first.
        try world.expectOK(["deploy", "--undo", names[1], "--discard-user-data"])
        let liveKeyslots = try world.inventory().read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM keyCopy WHERE location = 'luks-keyslots' AND detail LIKE ? AND destroyedAt IS NULL",
                             arguments: ["%/\(names[1])-%"])
        }
        #expect(liveKeyslots == 0, "deploy --undo left keyslot copies recorded as live")
        try world.expectOK(["image", "rm", "gold:1"])
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// The bootable stand-in, patched: it boots through OVMF from the new encrypted layer over the
    /// old one and the golden file, runs the staged queue, logs each item and powers off; `patch
    /// status` reads the log back offline.
    @Test func patchedDesktopBootsRunsItsQueueAndStatusReadsItBack() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-PB-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.bootable, as: "standin")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        let name = world.name("pboot")
        try world.expectOK(["deploy", "--image", "standin", "--device", device, "--name", name, "--computer-name", "PC-PATCHED",
                            "--network", network, "--no-start"])
        let files = try PatchFiles(world.scratch)
        // Two runs before a boot: the .msu on one patch medium, the installer (`app install`) on a
        // second one queued after it. The guest finds each on its own CD drive and checks its hash.
        let patched = try world.lcm.run(["manage", "patch", name, "--add", files.reg, files.msu, "--format", "json"])
        try #require(patched.status == 0, "\(patched.stderr)\n\(patched.stdout)")
        let installed = try world.lcm.run(["manage", "app", "install", name, files.cmd, "--format", "json"])
        try #require(installed.status == 0, "\(installed.stderr)\n\(installed.stdout)")
        let media = [try PatchSet(paths: [files.reg, files.msu]), try PatchSet(paths: [files.cmd])]
            .map { "\(DeployFixture.poolDirectory)/\(PatchMedium.id(for: $0)!).iso" }
        func attached() throws -> [String] {
            try PatchMedium.attachedMedia(in: try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", name]).stdout)
        }
        #expect(Set(try attached()) == Set(media), "both media attached")

        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name]).status == 0)
        _ = try world.waitForPowerOff(name, label: "patch-tests")

        let status = try world.lcm.run(["manage", "patch", "status", name, "--format", "json"])
        #expect(status.status == 0, "\(status.stderr)\n\(status.stdout)")
        let statuses = try JSONDecoder.iso8601.decode([DesktopPatchStatus].self, from: Data(status.stdout.utf8))
        let result = try #require(statuses.first)
        #expect(result.readBack && result.boots == 1 && result.queuedInImage.isEmpty, "\(result)")
        #expect(result.items.map(\.state) == [.succeeded, .succeeded, .succeeded], "\(result.items)")
        for item in result.items.dropFirst() {
            #expect(item.exitCode == 0 && item.started != nil && item.ended != nil, "read from the medium, hash checked: \(result.items)")
        }
        let events = try world.lcm.run(["inventory", "list", "events", "--format", "json"])
        #expect(events.status == 0 && events.stdout.contains("patch item succeeded"), "the outcome is in the history: \(events.stderr)")

        // Running again, patched with --shutdown: shut down, patched, started again. Its queue has
        // run, so the patch also detaches both media and deletes them from the pool.
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name]).status == 0)
        let shut = try world.lcm.run(["manage", "patch", name, "--add", (try PatchFiles(world.scratch, level: 9)).reg, "--shutdown", "--format", "json"])
        try #require(shut.status == 0, "\(shut.stderr)\n\(shut.stdout)")
        let shutOutcome = try #require(try JSONDecoder().decode(DesktopPatchReport.self, from: Data(shut.stdout.utf8)).outcomes.first)
        #expect(shutOutcome.state == .patched && shutOutcome.notes.contains("shut down for the patch"), "\(shutOutcome)")
        #expect(try attached().isEmpty)
        for medium in media { #expect(!FileManager.default.fileExists(atPath: medium), "a medium no domain needs stayed in the pool") }
        _ = try world.waitForPowerOff(name, label: "patch-tests")
        let after = try world.lcm.run(["manage", "patch", "status", name, "--format", "json"])
        let afterStatus = try #require(try JSONDecoder.iso8601.decode([DesktopPatchStatus].self, from: Data(after.stdout.utf8)).first)
        #expect(afterStatus.boots == 3, "started again after the patch: \(afterStatus)")
        try expectRollbacks(world, name, media: media)
        try world.expectOK(["deploy", "--undo", name, "--discard-user-data"])
    }

    /// Rolls the booted desktop back layer by layer (os-4 → os-3 → os-2 → os), the user-data
    /// disk untouched: the .reg of a layer switched out is gone from the hive; the .msu that ran in
    /// os-3 is still queued in os-2, so it is staged again with its medium and runs at the next
    /// boot; the deployed layer cannot be rolled back.
    func expectRollbacks(_ world: DeployWorld, _ name: String, media: [String]) throws {
        let dataPath = try #require(try world.inventory().read { db in
            try String.fetchOne(db, sql: "SELECT v.path FROM volume v JOIN desktop d ON d.id = v.desktopID WHERE d.name = ? AND v.role = 'data'",
                                arguments: [name])
        })
        let dataHash = try FileDigest.sha256(path: dataPath)
        func layer(_ number: Int) -> String { number == 1 ? "\(name)-os.qcow2" : "\(name)-os-\(number).qcow2" }
        func rollBack() throws -> (DesktopRollbackReport, DesktopRollbackOutcome) {
            let run = try world.lcm.run(["manage", "rollback", name, "--format", "json"])
            try #require(run.status == 0, "\(run.stderr)\n\(run.stdout)")
            let report = try JSONDecoder().decode(DesktopRollbackReport.self, from: Data(run.stdout.utf8))
            print(String(format: "patch-tests: rollback in %.1f s, %d launch(es)", report.secondsTotal, report.launches))
            return (report, try #require(report.outcomes.first))
        }
        func domainXML() throws -> String { try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", name]).stdout }
        func boots(_ number: Int) throws -> Bool { try domainXML().contains("<source file='\(DeployFixture.poolDirectory)/\(layer(number))'") }
        func layers() throws -> [String: [String]] { try world.volumeRoles(name).filter { $0.key.hasPrefix("os") } }
        let windows = DeployFixture.Disk.bootable.spec.layout.windowsPartition.number

        let (firstReport, first) = try rollBack()
        #expect(first.state == .rolledBack && first.from == layer(4) && first.to == layer(3), "\(first)")
        #expect(first.itemsRolledBack == ["fix-9.reg"] && first.itemsStagedAgain.isEmpty && firstReport.launches == 1, "\(first)")
        #expect(try boots(3), "the domain does not boot \(layer(3))")
        #expect(try layers() == ["os": [layer(3)], "os-layer": [layer(1), layer(2)]])
        #expect(!FileManager.default.fileExists(atPath: "\(DeployFixture.poolDirectory)/\(layer(4))"), "the layer switched out stayed")
        let shown = try world.lcm.run(["manage", "status", name, "--format", "json"])
        let lastPatch = try #require(try JSONDecoder().decode([DesktopStatusReport].self, from: Data(shown.stdout.utf8)).first?.lastPatch)
        #expect(lastPatch.hasSuffix(": fix-9.reg rolled-back"), "\(lastPatch)")
        let hives = world.scratch.file("rollback-hives")
        try FileManager.default.createDirectory(at: hives, withIntermediateDirectories: true)
        _ = try world.guestfish(try world.plainCopies([(name, "os")]), partition: windows) { _ in
            ["download /Windows/System32/config/SOFTWARE \(hives.path)/SOFTWARE"]
        }
        #expect(try world.hivexget("\(hives.path)/SOFTWARE", "Policies\\LCMTest", "Level") == "7", "the level-9 .reg went with its layer")

        let (_, second) = try rollBack()
        #expect(second.from == layer(3) && second.to == layer(2) && second.itemsRolledBack == ["setup.cmd"], "\(second)")
        #expect(second.itemsStagedAgain == ["windows10.0-kb5031356-x64.msu"], "it ran in os-3, and os-2 still queues it: \(second)")
        #expect(try PatchMedium.attachedMedia(in: try domainXML()) == [media[0]] && FileManager.default.fileExists(atPath: media[0]),
                "its medium is uploaded again from lcm's copy and attached")
        #expect(try FileDigest.sha256(path: dataPath) == dataHash, "a rollback touched the user-data disk")
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name]).status == 0)
        _ = try world.waitForPowerOff(name, label: "patch-tests (rolled back)")
        let status = try world.lcm.run(["manage", "patch", "status", name, "--format", "json"])
        let read = try #require(try JSONDecoder.iso8601.decode([DesktopPatchStatus].self, from: Data(status.stdout.utf8)).first)
        #expect(read.readBack && read.boots == 1 && read.queuedInImage.isEmpty, "os-2 had not booted before: \(read)")
        #expect(read.items.map(\.state) == [.succeeded, .succeeded, .rolledBack, .rolledBack], "\(read.items)")
        #expect(read.items[1].exitCode == 0, "the .msu ran again from its medium: \(read.items)")

        let (thirdReport, third) = try rollBack()
        #expect(third.from == layer(2) && third.to == layer(1) && third.itemsRolledBack == ["fix-7.reg", "windows10.0-kb5031356-x64.msu"], "\(third)")
        #expect(thirdReport.launches == 0, "nothing that ran is left in a remaining layer")
        let deployedXML = try domainXML()
        #expect(try boots(1) && !deployedXML.contains("<backingStore type='file'>"), "\(deployedXML)")
        #expect(try PatchMedium.attachedMedia(in: try domainXML()).isEmpty)
        let deployed = try world.lcm.run(["manage", "rollback", name])
        #expect(deployed.status == LCMExitCode.conflict.rawValue && deployed.stderr.contains("only the OS layer it was deployed with"),
                "\(deployed.status) \(deployed.stderr)")
        #expect(try layers() == ["os": [layer(1)]])
    }

    /// `kill -9` at random moments of successive patch runs (each run first recovers what the
    /// killed one left): after every kill each recorded layer passes `qemu-img check`, the domain
    /// boots a complete layer, no helper survives; a last run completes and the pool holds exactly
    /// the recorded layers.
    @Test func killedPatchRunsLeaveEveryLayerUsable() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-PK-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let name = world.name("pk")
        try world.expectOK(["deploy", "--image", "gold", "--device", device, "--name", name, "--no-start"])
        let files = try PatchFiles(world.scratch)
        var generator = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["LCM_TEST_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max))
        print("patch-tests: crash trials with LCM_TEST_SEED=\(generator.seed)")
        // Kill moments spread over one whole run as this machine does it (a fixed range let most
        // runs finish first on a faster machine).
        let clock = ContinuousClock(), timed = clock.now
        try world.expectOK(["manage", "patch", name, "--add", files.reg, files.msu, files.cmd, "--quiet"])
        let runSeconds = Double((clock.now - timed).components.seconds) + Double((clock.now - timed).components.attoseconds) / 1e18
        print(String(format: "patch-tests: an uninterrupted run takes %.1f s", runSeconds))
        let trials = 20
        var killedMidway = 0
        for trial in 1...trials {
            let delay = Double.random(in: 0.3...max(1, runSeconds * 0.95), using: &generator)
            let process = try world.startLCM(["manage", "patch", name, "--add", files.reg, files.msu, files.cmd, "--quiet"])
            let clock = ContinuousClock(), started = clock.now
            while process.isRunning, clock.now - started < .milliseconds(Int64(delay * 1000)) { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); killedMidway += 1 }
            process.waitUntilExit()
            // libguestfs's recovery process stops the appliance within about 2 s of lcm's death.
            var survivors = ProcessTable.processes(mentioning: world.home)
            let killedAt = ContinuousClock.now
            while !survivors.isEmpty, ContinuousClock.now - killedAt < .seconds(6) {
                Thread.sleep(forTimeInterval: 0.2)
                survivors = ProcessTable.processes(mentioning: world.home)
            }
            #expect(survivors.isEmpty, "trial \(trial) (kill at \(delay) s): \(survivors)")
            try world.expectConsistentLayers(name, context: "trial \(trial) (kill at \(String(format: "%.1f", delay)) s)")
        }
        print("patch-tests: \(killedMidway) of \(trials) runs killed midway")
        #expect(killedMidway >= trials / 2, "most trials must kill a run in progress")
        let last = try world.lcm.run(["manage", "patch", name, "--add", files.reg, "--format", "json"])
        #expect(last.status == 0, "\(last.stderr)")
        let report = try JSONDecoder().decode(DesktopPatchReport.self, from: Data(last.stdout.utf8))
        #expect(report.outcomes.map(\.state) == [.patched])
        try world.expectConsistentLayers(name, context: "after the last run")
        let roles = try world.volumeRoles(name)
        #expect(roles["os-pending"] == nil, "\(roles)")
        let pool = try #require(try Connection(uri: DeployFixture.localURI).lookupStoragePool(name: DeviceStoragePool.name))
        try pool.refresh()
        let inPool = Set(try pool.listAllVolumes().map { try $0.name }.filter { $0.hasPrefix(name + "-") })
        #expect(inPool == Set(roles.values.flatMap { $0 }), "pool \(inPool.sorted()) vs records \(roles)")
        try world.expectOK(["deploy", "--undo", name, "--discard-user-data"])
        #expect(try world.hostLeftovers().isEmpty)
    }

    /// Bad files, unknown desktops, a hibernated image, a full disk and a held lock: each a clear
    /// error and its exit code, and nothing changed.
    @Test func badPatchesAreRefusedAndChangeNothing() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-PX-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.small, as: "small")
        try world.expectOK(["image", "import", try ImageFixture.url(.hibernated).path, "--name", "hib"])
        let name = world.name("px")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }
        try world.expectOK(["deploy", "--image", "small", "--device", device, "--name", name, "--no-start", "--network", network])
        let files = try PatchFiles(world.scratch)
        let broken = world.scratch.file("broken.reg").path
        try "REGEDIT4\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\LCMTest]\n\"Level\"=dword:xyz\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let program = world.scratch.file("setup.exe").path
        FileManager.default.createFile(atPath: program, contents: Data("MZ".utf8))
        // Bigger than the free space of the small image's Windows volume (sparse here).
        let huge = world.scratch.file("windows10.0-kb5000001-x64.msu").path
        FileManager.default.createFile(atPath: huge, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: huge))
        try handle.truncate(atOffset: 600 << 20)
        try handle.close()

        let pool = try #require(try Connection(uri: DeployFixture.localURI).lookupStoragePool(name: DeviceStoragePool.name))
        func volumes() throws -> [String] { try pool.refresh(); return try pool.listAllVolumes().map { try $0.name }.filter { $0.contains(world.tag) }.sorted() }
        let before = try volumes()
        let cases: [(String, [String], LCMExitCode, String)] = [
            ("malformed .reg", [name, "--add", files.reg, broken], .dataError, "line 4"),
            ("unknown kind", [name, "--add", program], .usage, ".exe"),
            ("missing file", [name, "--add", world.scratch.file("nope.msu").path], .notFound, "nope.msu"),
            ("unknown desktop", ["no-such-desktop", "--add", files.reg], .notFound, "no-such-desktop"),
            ("unknown status", ["--status", "asleep", "--add", files.reg], .usage, "asleep"),
            ("status with names", [name, "--status", "stopped", "--add", files.reg], .usage, "--status"),
            ("hibernated image", ["--image", "hib", "--add", files.reg], .conflict, "hibernated"),
            ("full disk", [name, "--add", huge], .cannotWrite, "free"),
        ]
        for (label, arguments, code, text) in cases {
            let run = try world.lcm.run(["manage", "patch"] + arguments)
            #expect(run.status == code.rawValue, "\(label): \(run.status) \(run.stderr)")
            #expect(run.stderr.contains(text), "\(label): \(run.stderr)")
            #expect(try volumes() == before, "\(label) left volumes")
            #expect(try world.volumeRoles(name)["os"] == ["\(name)-os.qcow2"] && world.volumeRoles(name)["os-pending"] == nil, "\(label)")
        }
        let rollbackCases: [(String, [String], LCMExitCode, String)] = [
            ("only the deployed layer", [name], .conflict, "only the OS layer it was deployed with"),
            ("unknown desktop", ["no-such-desktop"], .notFound, "no-such-desktop"),
            ("no selection", [], .usage, "DESKTOP"),
        ]
        for (label, arguments, code, text) in rollbackCases {
            let run = try world.lcm.run(["manage", "rollback"] + arguments)
            #expect(run.status == code.rawValue && run.stderr.contains(text), "rollback, \(label): \(run.status) \(run.stderr)")
            #expect(try volumes() == before, "rollback, \(label) changed volumes")
            #expect(try world.volumeRoles(name)["os"] == ["\(name)-os.qcow2"], "rollback, \(label)")
        }
        // With --shutdown, a desktop with nothing to roll back is refused before it is shut down.
        let up = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name])
        try #require(up.status == 0, "\(up.stderr)")
        let nothingBelow = try world.lcm.run(["manage", "rollback", name, "--shutdown"])
        #expect(nothingBelow.status == LCMExitCode.conflict.rawValue && nothingBelow.stderr.contains("only the OS layer"), "\(nothingBelow.stderr)")
        #expect(try Connection(uri: DeployFixture.localURI).lookupDomain(name: name)?.isActive == true, "shut down for nothing")
        _ = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "destroy", name])
        #expect(try world.inventory().read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM imageVersion iv JOIN image i ON i.id = iv.imageID WHERE i.name = 'hib'") } == 1)
        // Only the full disk reached the desktop; it is recorded as a failure, nothing else is.
        #expect(try world.patchRows(name) == 1)

        // Two overlapping runs (cron's and an admin's): the second waits --lock-wait seconds for
        // the first, then exits 75 and changes nothing; the first completes.
        let firstOutput = Pipe()
        let first = try world.startLCM(["manage", "patch", name, "--add", files.reg, "--quiet"], output: firstOutput)
        // Wait until the first run holds the lock (its pid is written there once it has it).
        let lockFile = FileLock(path: ObjectLock.path(home: LCMHome(url: URL(fileURLWithPath: world.home)), kind: "patch-run", id: "all"))
        let clock = ContinuousClock(), started = clock.now
        while lockFile.holderPID != first.processIdentifier, clock.now - started < .seconds(10) { Thread.sleep(forTimeInterval: 0.05) }
        #expect(lockFile.holderPID == first.processIdentifier, "the first run never took the lock")
        let waiting = try world.lcm.run(["manage", "patch", name, "--add", files.reg, "--lock-wait", "1", "--quiet"])
        #expect(waiting.status == LCMExitCode.busy.rawValue && waiting.stderr.contains("locked"), "\(waiting.status) \(waiting.stderr)")
        first.waitUntilExit()
        let summary = String(decoding: firstOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(first.terminationStatus == 0 && summary.hasPrefix("patched 1, queued 0, failed 0"), "\(summary)")
        #expect(try world.patchRows(name) == 2, "the full-disk failure and the first run's .reg; nothing from the run that gave up")

        // A running desktop's layer is not switched under it.
        let booted = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name])
        try #require(booted.status == 0, "\(booted.stderr)")
        let running = try world.lcm.run(["manage", "rollback", name])
        #expect(running.status == LCMExitCode.conflict.rawValue && running.stderr.contains("is running"), "\(running.status) \(running.stderr)")
        #expect(try world.volumeRoles(name)["os"] == ["\(name)-os-2.qcow2"])
        _ = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "destroy", name])
        // Killed right after its switch: the domain still boots the old top, a whole layer; the
        // rerun completes that rollback and goes no further back.
        var killed = world.lcm
        killed.environment["LCM_FAILPOINT"] = "rollback:switched:recorded"
        let killedRun = try killed.run(["manage", "rollback", name])
        #expect(killedRun.signaled && killedRun.status == SIGKILL, "\(killedRun.status) \(killedRun.stderr)")
        #expect(try world.volumeRoles(name)["os-discarded"] == ["\(name)-os-2.qcow2"] && world.volumeRoles(name)["os"] == ["\(name)-os.qcow2"])
        let rerun = try world.lcm.run(["manage", "rollback", name, "--format", "json"])
        try #require(rerun.status == 0, "\(rerun.stderr)")
        let completed = try #require(try JSONDecoder().decode(DesktopRollbackReport.self, from: Data(rerun.stdout.utf8)).outcomes.first)
        #expect(completed.from == "\(name)-os-2.qcow2" && completed.to == "\(name)-os.qcow2" && completed.itemsRolledBack == ["fix-7.reg"], "\(completed)")
        #expect(completed.notes.contains { $0.contains("interrupted run") }, "\(completed.notes)")
        let roles = try world.volumeRoles(name)
        #expect(roles["os"] == ["\(name)-os.qcow2"] && roles["os-layer"] == nil && roles["os-discarded"] == nil, "\(roles)")
        try world.expectConsistentLayers(name, context: "after the completed rollback")
        #expect(try volumes() == before, "the rolled-back layer stayed in the pool")
        try world.expectOK(["deploy", "--undo", name, "--discard-user-data"])
        #expect(try world.hostLeftovers().isEmpty)
    }
}

extension PatchCommandTests {
    /// A desktop deployed with --no-encrypt: the layer a rollback switches out is overwritten
    /// with zeros (through a libvirt stream, read back) before it is deleted, since no key
    /// destruction will make it unreadable. Killed right after the overwrite, the volume is
    /// still there and reads as zeros whole; the rerun deletes it.
    @Test func aPlainLayerIsOverwrittenBeforeItIsDeleted() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-PR-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.small, as: "small")
        let name = world.name("pr")
        try world.expectOK(["deploy", "--image", "small", "--device", device, "--name", name, "--no-start", "--no-encrypt"])
        try world.expectOK(["manage", "patch", name, "--add", (try PatchFiles(world.scratch)).reg])
        let layer = "\(DeployFixture.poolDirectory)/\(name)-os-2.qcow2"
        let before = try Data(contentsOf: URL(fileURLWithPath: layer))
        #expect(before.contains { $0 != 0 } && before.starts(with: Data("QFI".utf8)), "a qcow2 layer with content")

        var killed = world.lcm
        killed.environment["LCM_FAILPOINT"] = "rollback:discarded-overwritten:ran"
        let run = try killed.run(["manage", "rollback", name])
        #expect(run.signaled && run.status == SIGKILL, "\(run.status) \(run.stderr)")
        let after = try Data(contentsOf: URL(fileURLWithPath: layer))
        #expect(after.count == before.count && !after.contains { $0 != 0 }, "the switched-out plain layer is not zeros whole")
        #expect(try world.volumeRoles(name)["os-discarded"] == ["\(name)-os-2.qcow2"])

        let rerun = try world.lcm.run(["manage", "rollback", name, "--format", "json"])
        try #require(rerun.status == 0, "\(rerun.stderr)")
        let outcome = try #require(try JSONDecoder().decode(DesktopRollbackReport.self, from: Data(rerun.stdout.utf8)).outcomes.first)
        #expect(outcome.state == .rolledBack && outcome.to == "\(name)-os.qcow2", "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: layer))
        #expect(try world.volumeRoles(name)["os-discarded"] == nil)
        try world.expectConsistentLayers(name, context: "after the plain rollback")
        try world.expectOK(["deploy", "--undo", name, "--discard-user-data"])
        #expect(try world.hostLeftovers().isEmpty)
    }
}

extension DeployWorld {
    /// Every recorded OS layer passes `qemu-img check` (the key given to each encrypted layer),
    /// and the domain boots the recorded top or a complete layer under it, never a pending one.
    func expectConsistentLayers(_ desktop: String, context: String) throws {
        let inventory = try inventory()
        let rows = try inventory.read { db in
            try Row.fetchAll(db, sql: """
                SELECT v.role, v.path, d.keyID FROM volume v JOIN desktop d ON d.id = v.desktopID
                WHERE d.name = ? AND v.role IN ('os', 'os-layer', 'os-pending') ORDER BY v.id
                """, arguments: [desktop])
        }
        let tops = rows.filter { $0["role"] as String == "os" }
        try #require(tops.count == 1, "\(context): \(tops.count) top layers")
        #expect(rows.filter { $0["role"] as String == "os-pending" }.count <= 1, "\(context)")
        let keyFile = scratch.file("check-key")
        let keyID: String? = rows.first?["keyID"]
        if let keyID {
            let passphrase = try DesktopKey.passphrase(keyID: keyID, inventory: inventory)
            FileManager.default.createFile(atPath: keyFile.path, contents: Data(passphrase.bytes()), attributes: [.posixPermissions: 0o600])
        }
        defer { unlink(keyFile.path) }
        var complete: [String] = []
        for row in rows where row["role"] as String != "os-pending" {
            let path: String = row["path"]
            let info = try ProgramRun.run("/usr/bin/qemu-img", ["info", "-U", "--backing-chain", "--output=json", path])
            let layers = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]] ?? []
            var options = "driver=qcow2,file.filename=\(path)"
            for (depth, layer) in layers.enumerated() where layer["encrypted"] as? Bool == true {
                options += ",\(String(repeating: "backing.", count: depth))encrypt.key-secret=sec0"
            }
            // A plain desktop's layers take no key.
            let secret = keyID == nil ? [] : ["--object", "secret,id=sec0,file=\(keyFile.path)"]
            let check = try ProgramRun.run("/usr/bin/qemu-img", ["check", "-U"] + secret + ["--image-opts", options])
            #expect(check.status == 0, "\(context): qemu-img check \(path): \(check.stdout) \(check.stderr)")
            complete.append(path)
        }
        let xml = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", desktop])
        let source = xml.stdout.components(separatedBy: "<source file='").dropFirst().first?.components(separatedBy: "'").first
        #expect(source.map(complete.contains) == true, "\(context): the domain boots \(source ?? "nothing"), not a complete layer \(complete)")
        // Every patch medium the domain attaches is in the pool: it would not start otherwise.
        for medium in try PatchMedium.attachedMedia(in: xml.stdout) {
            #expect(FileManager.default.fileExists(atPath: medium), "\(context): the domain attaches \(medium), which is gone")
        }
    }
}

/// A small deterministic generator (SplitMix64), so a failing crash trial can be replayed by its seed.
struct SeededGenerator: RandomNumberGenerator {
    let seed: UInt64
    private var state: UInt64
    init(seed: UInt64) { self.seed = seed; state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
