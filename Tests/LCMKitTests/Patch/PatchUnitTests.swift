import Archive
import Foundation
import GRDB
import Libvirt
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import LCMKit
import LCMTestSupport
import Testing

/// The parts of patching that need no appliance: the patch set's checks, the domain XML edit that
/// switches a desktop to a new OS layer, the libvirt hook script, and the shipped example .reg.
struct PatchUnitTests {
    static var repository: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url
    }

    @Test func patchSetReadsFilesInOrderAndRefusesWhatItCannotApply() throws {
        let scratch = ScratchDirectory(prefix: "lcm-patchset")
        let reg = scratch.file("a.reg").path, msu = scratch.file("Windows10.0-KB5031356 (x64).msu").path
        try "REGEDIT4\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\n\"V\"=dword:00000001\n".write(toFile: reg, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: msu, contents: Data(repeating: 7, count: 4096))
        let set = try PatchSet(paths: [msu, reg])
        let regBytes = Int64(try Data(contentsOf: URL(fileURLWithPath: reg)).count)
        #expect(set.items.map(\.kind) == [.msu, .reg] && set.items.map(\.bytes) == [4096, regBytes])
        let msuHash = try FileDigest.sha256(path: msu)
        #expect(set.items[0].sha256 == msuHash)
        #expect(set.staged.map(\.name) == ["Windows10.0-KB5031356__x64_"] && set.staged[0].source == msu, "queue names are made safe")
        #expect(set.registry.files.count == 1 && set.stagedBytes == 4096)

        func refusal(_ paths: [String]) -> LCMError? {
            do { _ = try PatchSet(paths: paths); return nil } catch { return error as? LCMError }
        }
        #expect(refusal([])?.code == .usage)
        #expect(refusal([reg, reg])?.code == .usage, "the same file twice")
        let exe = scratch.file("tool.exe").path
        _ = FileManager.default.createFile(atPath: exe, contents: Data("MZ".utf8))
        #expect(refusal([exe])?.code == .usage)
        // `purge` is lcm's own queue kind (answer files removed), never a patch file.
        let purge = scratch.file("x.purge").path
        _ = FileManager.default.createFile(atPath: purge, contents: Data("C:\\Windows\\System32\\config\\SAM\r\n".utf8))
        #expect(refusal([purge])?.code == .usage)
        #expect(refusal([scratch.file("gone.cab").path])?.code == .notFound)
        #expect(refusal([scratch.path]) != nil, "a directory is not a file")
        let broken = scratch.file("broken.reg").path
        try "REGEDIT4\n[HKEY_CURRENT_USER\\Software\\X]\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let error = refusal([msu, broken])
        #expect(error?.code == .dataError && error?.message.contains("line 2") == true, "\(String(describing: error))")
    }

    /// `patch status`'s answer-file verdict, from what the volume and the runner's files say.
    @Test func answerFileStatusSaysRemovedStillPresentOrNotYetBooted() throws {
        var inspection = WindowsInspection()
        inspection.answerFiles = [AnswerFile(path: "/Windows/Panther/unattend.xml", secrets: ["domain join blob"], declaresEntities: false),
                                  AnswerFile(path: "/Windows/System32/Sysprep/unattend.xml", secrets: [], declaresEntities: false)]
        let queued = RunnerState(boots: [], results: [], queuedFiles: ["000-answer-files.purge"], manifestPresent: true)
        let booted = RunnerState(boots: [BootRecord(computerName: "PC", time: Date())], results: [], queuedFiles: queued.queuedFiles,
                                 manifestPresent: true)
        let before = AnswerFileStatus(inspection: inspection, runner: queued)
        #expect(before.state == .notYetBooted && before.paths == ["/Windows/Panther/unattend.xml"] && before.secrets == ["domain join blob"])
        #expect(before.summary == "not yet booted" && before.detail == nil)
        let waiting = AnswerFileStatus(inspection: inspection, runner: booted)
        #expect(waiting.state == .stillPresent && waiting.summary == "still present: /Windows/Panther/unattend.xml")
        #expect(waiting.detail?.contains("still queued") == true, "\(waiting)")
        let end = Date()
        let failedRun = RunnerState(boots: booted.boots, results: [RunnerResult(item: "000-answer-files.purge", started: end, ended: end,
                                                                               exitCode: BootRunnerContract.answerFilesRemainExitCode, rebootNeeded: false)],
                                    queuedFiles: [], manifestPresent: false)
        let failed = AnswerFileStatus(inspection: inspection, runner: failedRun)
        #expect(failed.state == .stillPresent && failed.exitCode == BootRunnerContract.answerFilesRemainExitCode)
        #expect(failed.detail?.contains("could not remove") == true, "\(failed)")

        var clean = inspection
        clean.answerFiles = []
        var done = failedRun
        done.results[0].exitCode = 0
        let removed = AnswerFileStatus(inspection: clean, runner: done)
        #expect(removed.state == .removed && removed.removedAt == end && removed.exitCode == 0 && removed.paths.isEmpty)
        #expect(AnswerFileStatus(inspection: clean, runner: RunnerState(boots: [], results: [], queuedFiles: [], manifestPresent: false)).state
                == .noSecrets)
        // A golden image's own answer file with a secret: nothing queued to remove it, and the report says so.
        let golden = AnswerFileStatus(inspection: inspection, runner: RunnerState(boots: booted.boots, results: [], queuedFiles: [], manifestPresent: false))
        #expect(golden.state == .stillPresent && golden.detail?.contains("golden image") == true, "\(golden)")

        var status = DesktopPatchStatus(desktop: "d1", device: "DEV", domainState: "shut off", readBack: true)
        status.answerFiles = before
        let text = PatchReports.text([status])
        #expect(text.contains("answer files with secrets: not yet booted (/Windows/Panther/unattend.xml hold domain join blob)"), "\(text)")
        status.answerFiles = removed
        #expect(PatchReports.text([status]).contains("answer files with secrets: removed"))
    }

    /// The join blob is a secret the scanner names (image check, patch status), by element only.
    @Test func answerFileScannerFindsTheOfflineJoinBlob() {
        let xml = """
            <unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="specialize">
            <component name="Microsoft-Windows-UnattendedJoin"><Identification><Provisioning>
            <AccountData>QUJDRA==</AccountData></Provisioning></Identification></component></settings></unattend>
            """
        #expect(AnswerFileScanner.secrets(in: xml) == ["domain join blob"])
        #expect(AnswerFileScanner.secrets(in: "<unattend><settings pass=\"specialize\"><ComputerName>PC</ComputerName></settings></unattend>").isEmpty)
    }

    /// The Windows runner removes exactly the contract's answer files, waits for Setup, and logs the purge.
    @Test func theRunnerRemovesEveryAnswerFileOfTheContract() throws {
        let script = StartupScriptRunner.powershellScript
        for path in BootRunnerContract.answerFilePaths {
            #expect(script.contains("'" + path.replacingOccurrences(of: "/", with: "\\") + "'"), "\(path)")
        }
        #expect(script.contains("$entry.Kind -eq 'purge'") && script.contains("SystemSetupInProgress") && script.contains("OOBEInProgress"))
        #expect(script.contains("{ \(BootRunnerContract.answerFilesRemainExitCode) }"))
        #expect(!script.contains("\\#("), "an interpolation was left in the script")
        let item = BootRunnerContract.answerFileCleanup()
        #expect(item.isValid && item.fileName == "000-answer-files.purge")
        #expect(try BootRunnerContract.parseManifest(BootRunnerContract.manifest([item])).map(\.kind) == [.purge])
    }

    static let domainXML = """
        <domain type='qemu'>
          <name>desk</name>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2' discard='unmap'/>
              <source file='/pool/desk-os.qcow2'>
                <encryption format='luks'>
                  <secret type='passphrase' uuid='8d0f3c1e-2b4a-4c6d-9e8f-0a1b2c3d4e5f'/>
                </encryption>
              </source>
              <target dev='sda' bus='sata'/>
              <address type='drive' controller='0' bus='0' target='0' unit='0'/>
            </disk>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='/pool/desk-data.qcow2'/>
              <target dev='sdb' bus='sata'/>
            </disk>
            <graphics type='spice' autoport='yes' listen='127.0.0.1' passwd='keep-me'/>
          </devices>
        </domain>
        """

    @Test func switchingTheOSLayerEditsOnlyTheBootDisk() throws {
        let secret = "8d0f3c1e-2b4a-4c6d-9e8f-0a1b2c3d4e5f"
        let disk = DesktopDomain.Disk(path: "/pool/desk-os-2.qcow2", bus: .sata, luksSecretUUID: secret, discard: true,
                                      backingChain: [.init(path: "/pool/desk-os.qcow2", luksSecretUUID: secret), .init(path: "/pool/golden.qcow2")])
        let edited = try #require(try OSLayers.replacingOSDisk(in: Self.domainXML, layerPaths: ["/pool/desk-os.qcow2"], with: disk))
        let document = try XMLDocument(xmlString: edited, options: [])
        let disks = try document.nodes(forXPath: "/domain/devices/disk") as? [XMLElement] ?? []
        #expect(disks.count == 2)
        let boot = disks[0]
        #expect(boot.elements(forName: "source").first?.attribute(forName: "file")?.stringValue == "/pool/desk-os-2.qcow2")
        #expect(try boot.nodes(forXPath: "source/encryption/secret/@uuid").first?.stringValue == secret)
        // The chain, top first, each encrypted layer with its secret, closed by an empty backingStore.
        #expect(try boot.nodes(forXPath: "backingStore/source/@file").first?.stringValue == "/pool/desk-os.qcow2")
        #expect(try boot.nodes(forXPath: "backingStore/source/encryption/secret/@uuid").first?.stringValue == secret)
        #expect(try boot.nodes(forXPath: "backingStore/backingStore/source/@file").first?.stringValue == "/pool/golden.qcow2")
        #expect(try boot.nodes(forXPath: "backingStore/backingStore/source/encryption").isEmpty)
        #expect(try boot.nodes(forXPath: "backingStore/backingStore/backingStore").count == 1)
        // Everything else as it was: target, address, the data disk, a graphics password.
        #expect(try boot.nodes(forXPath: "target/@dev").first?.stringValue == "sda")
        #expect(try boot.nodes(forXPath: "address/@unit").first?.stringValue == "0")
        #expect(disks[1].elements(forName: "source").first?.attribute(forName: "file")?.stringValue == "/pool/desk-data.qcow2")
        #expect(edited.contains("keep-me"))
        // A freshly deployed domain (one layer, chain probed by libvirt) is left as it is.
        let deployed = DesktopDomain.Disk(path: "/pool/desk-os.qcow2", bus: .sata, luksSecretUUID: secret.uppercased())
        #expect(try OSLayers.replacingOSDisk(in: Self.domainXML, layerPaths: ["/pool/desk-os.qcow2"], with: deployed) == nil)
        // Already switched: nothing to do. A domain without the layer: refused.
        #expect(try OSLayers.replacingOSDisk(in: edited, layerPaths: ["/pool/desk-os.qcow2", "/pool/desk-os-2.qcow2"], with: disk) == nil)
        #expect(throws: LCMError.self) { try OSLayers.replacingOSDisk(in: Self.domainXML, layerPaths: ["/pool/other.qcow2"], with: disk) }
        #expect(throws: LCMError.self) { try DesktopDomain.backingChain([.init(path: "relative.qcow2")]) }
        #expect(throws: LCMError.self) { try DesktopDomain.backingChain([.init(path: "/x.img", format: "vmdk")]) }
    }

    /// The patch medium: an id from the staged files alone, each file at `<id>/NN-name.kind` in
    /// an ISO that libarchive reads back byte for byte, manifest lines that name the path and hash,
    /// and the domain edit that attaches exactly the media still needed.
    @Test func stagedFilesGoOnOneMediumThatTheManifestAndTheDomainName() throws {
        let scratch = ScratchDirectory(prefix: "lcm-medium")
        let reg = scratch.file("a.reg").path, msu = scratch.file("windows10.0-kb5031356-x64.msu").path
        let cmd = scratch.file("setup.cmd").path
        try "REGEDIT4\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\X]\n\"V\"=dword:00000001\n".write(toFile: reg, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: msu, contents: Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
        try "@echo off\r\n".write(toFile: cmd, atomically: true, encoding: .utf8)
        let set = try PatchSet(paths: [reg, msu, cmd])
        let id = try #require(PatchMedium.id(for: set))
        #expect(id.hasPrefix("lcm-patch-") && id.count == "lcm-patch-".count + 16)
        #expect(PatchMedium.id(for: try PatchSet(paths: [cmd, reg, msu])) != id, "the order is part of the set")
        #expect(PatchMedium.id(for: try PatchSet(paths: [reg])) == nil, "a .reg alone needs no medium")
        let onMedium = set.onMedium(id)
        #expect(onMedium.staged.map { $0.medium?.path } == ["\(id)/01-windows10.0-kb5031356-x64.msu", "\(id)/02-setup.cmd"])
        #expect(onMedium.staged[0].medium?.sha256 == set.items[1].sha256 && onMedium.staged[0].medium?.mediumID == id)

        // The manifest names the path and the hash; the parser gives them back.
        var queued = onMedium.staged
        for index in queued.indices { queued[index].order = index }
        let entries = try BootRunnerContract.parseManifest(BootRunnerContract.manifest(queued))
        #expect(entries.map(\.medium) == queued.map(\.medium))
        #expect(try BootRunnerContract.parseManifest(BootRunnerContract.manifest(set.staged)).allSatisfy { $0.medium == nil })

        // The ISO holds each staged file at its path, intact; nothing else.
        let home = LCMHome(url: scratch.file("home"))
        let image = try PatchMedium.image(for: onMedium, id: id, home: home)
        let reader = try ArchiveReader(contentsOf: image)
        defer { reader.close() }
        var files: [String: Data] = [:]
        while let entry = try reader.nextEntry() {
            if entry.kind == .regularFile { files[entry.path] = try reader.readData() } else { _ = try reader.readData() }
        }
        #expect(Set(files.keys) == Set(onMedium.mediumFiles.map(\.path)), "\(files.keys)")
        for (path, source) in onMedium.mediumFiles {
            #expect(files[path] == (try Data(contentsOf: URL(fileURLWithPath: source))), "\(path)")
        }
        #expect(try PatchMedium.image(for: onMedium, id: id, home: home) == image, "built once, then reused")

        // Attaching: a read-only SATA CD on a free target; detaching removes only patch media.
        let path = "/pool/\(id).iso"
        let attached = try #require(try PatchMedium.replacingMedia(in: Self.domainXML, wanted: [path]))
        let document = try XMLDocument(xmlString: attached, options: [])
        let cdrom = try #require((try document.nodes(forXPath: "/domain/devices/disk[@device='cdrom']") as? [XMLElement])?.first)
        #expect(try cdrom.nodes(forXPath: "source/@file").first?.stringValue == path)
        #expect(try cdrom.nodes(forXPath: "target/@dev").first?.stringValue == "sdc", "sda and sdb are taken")
        #expect(try cdrom.nodes(forXPath: "target/@bus").first?.stringValue == "sata" && !cdrom.elements(forName: "readonly").isEmpty)
        #expect(try PatchMedium.attachedMedia(in: attached) == [path])
        #expect(try PatchMedium.replacingMedia(in: attached, wanted: [path]) == nil, "already attached")
        let detached = try #require(try PatchMedium.replacingMedia(in: attached, wanted: []))
        #expect(try PatchMedium.attachedMedia(in: detached).isEmpty && detached.contains("/pool/desk-data.qcow2") && detached.contains("keep-me"))
        let installer = Self.domainXML.replacingOccurrences(of: "<graphics", with: """
            <disk type='file' device='cdrom'><source file='/isos/win11.iso'/><target dev='sdc' bus='sata'/><readonly/></disk>
                <graphics
            """)
        let both = try #require(try PatchMedium.replacingMedia(in: installer, wanted: [path]))
        #expect(both.contains("/isos/win11.iso") && (both.contains("target dev='sdd'") || both.contains("target dev=\"sdd\"")), "\(both)")
        #expect(try PatchMedium.replacingMedia(in: both, wanted: [])?.contains("/isos/win11.iso") == true, "another CD is not lcm's to detach")
    }

    /// Two lcm homes patching one host with the same files: a medium no domain names and this
    /// home did not record (a killed upload, or another home's not yet attached) is made again; one
    /// a domain names is used as it is, never deleted from under that domain.
    @Test func aMediumAnotherHomeAttachedIsUsedNotReplaced() throws {
        let scratch = ScratchDirectory(prefix: "lcm-medium-homes")
        let connection = try Connection(uri: "qemu:///system")
        let id = PatchMedium.prefix + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        func medium(_ name: String, _ text: String) throws -> URL {
            let url = scratch.file(name)
            try ISOImageWriter(volumeLabel: PatchMedium.volumeLabel)
                .write([.bytes(Data(text.utf8), at: "\(id)/01-setup.cmd"), .bytes(Data(name.utf8), at: "\(id)/made-by")], to: url)
            return url
        }
        func home(_ name: String) throws -> Inventory { try Inventory.open(home: LCMHome(url: scratch.file(name))) }
        let (first, second, third) = (try home("a"), try home("b"), try home("c"))
        let images = [try medium("a.iso", "@echo off\r\n"), try medium("b.iso", "@echo off\r\n"), try medium("c.iso", "@echo off\r\n")]
        let digests = try images.map { try FileDigest.sha256(path: $0.path) }
        #expect(Set(digests).count == 3, "three homes' media of one set differ in their bytes")
        let pool = try DeviceStoragePool.open(named: DeviceStoragePool.name, on: connection)
        func hostCopy() throws -> String? {
            try pool.lookupVolume(name: PatchMedium.volumeName(id)).map { try VolumeTransfer.remoteHash($0).sha256.hexString }
        }
        let domainName = "lcmtest-medium-\(UUID().uuidString.prefix(6).lowercased())"
        var domain: Domain?
        defer {
            try? domain?.undefine(removeNVRAM: true, removeTPMState: true)
            try? pool.lookupVolume(name: PatchMedium.volumeName(id))?.delete()
        }

        let path = try PatchMedium.ensure(id, image: images[0], on: connection, pool: DeviceStoragePool.name, inventory: first)
        #expect(try hostCopy() == digests[0])
        // Nobody attached it yet: the second home cannot tell it from a killed upload and makes it again.
        #expect(try PatchMedium.ensure(id, image: images[1], on: connection, pool: DeviceStoragePool.name, inventory: second) == path)
        #expect(try hostCopy() == digests[1])

        // The second home's desktop has it attached: the third home uses that copy.
        let xml = try #require(try PatchMedium.replacingMedia(in: """
            <domain type='qemu'><name>\(domainName)</name><memory unit='MiB'>64</memory>
              <os><type arch='x86_64' machine='q35'>hvm</type></os><devices></devices></domain>
            """, wanted: [path]))
        domain = try connection.defineDomain(xml: xml)
        #expect(try PatchMedium.mediaInUse(on: connection).contains(path))
        #expect(try PatchMedium.ensure(id, image: images[2], on: connection, pool: DeviceStoragePool.name, inventory: third) == path)
        #expect(try hostCopy() == digests[1], "the attached medium was replaced")
        let recorded = try third.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM hostMedium WHERE volume = ?", arguments: [PatchMedium.volumeName(id)])
        }
        #expect(recorded == 1, "the third home records the copy it uses")
    }

    @Test func hookScriptActsOnlyOnAStoppedDesktopWithAQueueAndNeverCallsLibvirt() throws {
        let scratch = ScratchDirectory(prefix: "lcm-hook")
        let home = LCMHome(url: scratch.file("home"))
        let log = scratch.file("calls").path
        // A stand-in for lcm that records how it was called.
        let fake = scratch.file("fake-lcm").path
        try "#!/bin/sh\necho \"$@\" >> '\(log)'\n".write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let script = try PatchHook.script(executable: fake, home: home)
        #expect(!script.contains("virsh"), "a hook must not call back into libvirtd")
        let hook = scratch.file("hook").path
        try script.write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try PatchHook.mark("desk-1", home: home)
        try FileManager.default.createDirectory(at: home.url.appendingPathComponent("patches"), withIntermediateDirectories: true)
        for arguments in [["desk-1", "stopped", "end", "-"], ["desk-2", "release", "end", "-"], ["../x", "release", "end", "-"],
                          ["desk-1", "release", "end", "-"]] {
            let run = try ProgramRun.run(URL(fileURLWithPath: hook), arguments)
            #expect(run.status == 0)
        }
        let clock = ContinuousClock(), start = clock.now
        while !FileManager.default.fileExists(atPath: log), clock.now - start < .seconds(5) { Thread.sleep(forTimeInterval: 0.05) }
        let calls = try String(contentsOfFile: log, encoding: .utf8)
        #expect(calls == "manage patch --apply-queued desk-1 --home \(home.url.path) --quiet\n", "\(calls)")
        PatchHook.unmark("desk-1", home: home)
        #expect(throws: LCMError.self) { try PatchHook.script(executable: fake, home: LCMHome(url: URL(fileURLWithPath: "/tmp/it's"))) }
    }

    @Test func aRollbackReportSaysWhatWentAndWhatRunsAgain() throws {
        var done = DesktopRollbackOutcome(desktop: "desk-1", device: "DEV-1", state: .rolledBack)
        done.from = "desk-1-os-3.qcow2"
        done.to = "desk-1-os-2.qcow2"
        done.itemsRolledBack = ["fix.reg"]
        done.itemsStagedAgain = ["kb1.msu"]
        var refused = DesktopRollbackOutcome(desktop: "desk-2", state: .failed)
        refused.error = "desktop desk-2 is running"
        let report = DesktopRollbackReport(runID: "r", outcomes: [done, refused], launches: 1, secondsTotal: 9.4)
        let lines = PatchReports.text(report).split(separator: "\n").map(String.init)
        #expect(lines == [
            "rolled-back desk-1 on DEV-1: boots desk-1-os-2.qcow2 again, desk-1-os-3.qcow2 deleted, rolled back: fix.reg, staged again for the next boot: kb1.msu",
            "failed      desk-2",
            "            error: desktop desk-2 is running",
            "rolled back 1, failed 1 (1 appliance launches, 9 s)",
        ], "\(lines)")
        done.state = .planned
        let plan = DesktopRollbackReport(runID: "r", outcomes: [done, refused], launches: 0, secondsTotal: 0.1, dryRun: true)
        #expect(plan.summary == "would roll back 1, would fail 1 (dry run, nothing changed)")
        #expect(PatchReports.text(plan).hasPrefix("planned     desk-1 on DEV-1: would boot desk-1-os-2.qcow2 again and delete desk-1-os-3.qcow2, would roll back: fix.reg"), "\(PatchReports.text(plan))")
    }

    @Test func theExampleRegFileParses() throws {
        let file = try RegFile(contentsOf: Self.repository.appendingPathComponent("examples/patches/disable-consumer-features.reg").path)
        #expect(file.hives == [.software, .system] && file.changes.count == 4)
    }
}
