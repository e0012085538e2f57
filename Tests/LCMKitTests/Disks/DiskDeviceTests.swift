import Foundation
import GRDB
@testable import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// Encrypted volumes on a device: created through libvirt streams, started as a domain with the
/// device's secret, and worked on from a remote lcm that cannot see the pool's files (its own
/// mount namespace hides them) through libvirt streams only. Audited by EncryptionAudit and doctor.
extension DiskIntegrationTests {
    static let tcpURI = "qemu+tcp://127.0.0.1/system"
    static let poolDirectory = "/var/lib/libvirt/images/lcm"

    @Test func encryptedVolumesBootAndAreWorkedOnRemotelyThroughStreams() throws {
        try ensureTCPListener()
        let bootable = try DiskFixtures.shared.image(DiskFixtures.bootableSpec)
        let scratch = ScratchDirectory(prefix: "lcm-device")
        let inventory = try DiskTestTools.inventory(scratch)
        let device = try Connection(uri: "qemu:///system")
        let pool = try DeviceStoragePool.ensure(on: device).pool
        let tag = "lcmtest-\(UUID().uuidString.prefix(6).lowercased())"
        var created: [String] = []
        let key = try DesktopKey.create(ownerKind: "desktop", ownerID: tag, inventory: inventory, device: device)
        defer {
            for name in created.reversed() { try? pool.lookupVolume(name: name)?.delete() }
            _ = try? DesktopKey.destroyAll(keyID: key.id, inventory: inventory)
        }

        // The golden base goes to the device as a plain volume; desktops get encrypted overlays.
        let baseName = "\(tag)-base.qcow2"
        let base = try DeviceVolumes.importFile(bootable.url.path, as: baseName, into: pool)
        created.append(baseName)
        let basePath = try base.path
        let booted = try DeviceVolumes.createEncrypted(name: "\(tag)-a.qcow2", on: device, backing: baseName,
                                                       key: key, inventory: inventory)
        created.append(booted.name)
        let other = try DeviceVolumes.createEncrypted(name: "\(tag)-b.qcow2", on: device, backing: baseName,
                                                      key: key, inventory: inventory)
        created.append(other.name)
        #expect(booted.backingPath == basePath)
        #expect(try DesktopKey.copies(keyID: key.id, inventory: inventory).filter { $0.location == .luksKeyslots }.count == 2)

        // A TCG domain starts on the encrypted overlay with the device's secret, and the stand-in
        // boots through LUKS overlay + plain base, writes its marker and powers off.
        try bootEncrypted(booted, on: device, directory: scratch.url)

        // The audit passes for both overlays (plain base, encrypted top), locally and through libvirt.
        for volume in [booted, other] {
            let handle = try #require(try pool.lookupVolume(name: volume.name))
            let report = try EncryptionAudit.check(volume: handle)
            #expect(report.passed && report.sharedBases == [1], "\(report)")
            #expect(try EncryptionAudit.check(path: volume.path).passed)
        }

        // Remote: lcm in a mount namespace where the pool directory is an empty tmpfs.
        let hidden = try ProgramRun.run("/usr/bin/unshare", ["-m", "sh", "-c", Self.hidePoolThenExec, "ls", "-A", Self.poolDirectory])
        #expect(hidden.status == 0 && hidden.stdout.isEmpty, "the pool is visible in the namespace: \(hidden.stdout) \(hidden.stderr)")
        let marker = "REMOTE-MARKER-\(UUID().uuidString.prefix(8))"
        let volumes = [
            // The admin's store has the golden base: only the overlay travels.
            DiskVolume.libvirt(uri: Self.tcpURI, volume: booted.name, keyID: key.id,
                               backingCopies: [basePath: bootable.url.path]),
            // No local copy: the base is downloaded too.
            DiskVolume.libvirt(uri: Self.tcpURI, volume: other.name, keyID: key.id),
        ]
        let list = scratch.file("remote.json")
        try DiskTestTools.writeVolumes(volumes, to: list)
        let common = ["disk-batch", "--home", inventory.home.path, "--object", "remote-\(tag)", "--volumes", list.path,
                      "--accel", LCMRunner.testAccelerator, "--marker", marker]
        let write = try runInHiddenPoolNamespace(common + ["--read-file", BootRunnerContract.markerPath,
                                                           "--write-file", "lcm-marker.txt", "--hive-value", "Marker"])
        #expect(write.status == 0, "\(write.stderr)\n\(write.stdout)")
        let written = try DiskTestTools.decode(write)
        print("disk-engine: remote write batch moved \(written.transfer) in \(written.launches) launch(es), \(written.secondsTotal) s")
        #expect(written.disks.allSatisfy { $0.ok }, "\(written.disks.map { "\($0.name): \(String(describing: $0.failure))" })")
        #expect(written.disk(booted.name)?.read?.contains("booted computer-name=\(DiskFixtures.bootableSpec.computerName)") == true,
                "boot marker: \(String(describing: written.disk(booted.name)?.read))")
        let baseBytes = (try FileManager.default.attributesOfItem(atPath: bootable.url.path)[.size] as! NSNumber).uint64Value
        #expect(written.transfer.downloaded >= baseBytes, "the base was downloaded once for the overlay without a copy")
        #expect(written.transfer.downloaded < 2 * baseBytes, "the base was not downloaded twice")
        #expect(written.transfer.uploaded > 0 && written.transfer.verified >= written.transfer.uploaded)

        // Read back through a second remote batch, read-only: nothing is uploaded.
        let read = try runInHiddenPoolNamespace(common + ["--read-only", "--read-file", "lcm-marker.txt",
                                                          "--read-hive-value", "Marker"])
        #expect(read.status == 0, "\(read.stderr)\n\(read.stdout)")
        let readBack = try DiskTestTools.decode(read)
        for volume in [booted, other] {
            #expect(readBack.disk(volume.name)?.read == "\(marker) \(volume.name)\n")
            #expect(readBack.disk(volume.name)?.hive == "\(marker) \(volume.name)")
        }
        #expect(readBack.transfer.uploaded == 0)

        // On the device the data is ciphertext only, and the images check clean.
        for volume in [booted, other] {
            #expect(!(try DiskTestTools.fileContains(volume.path, marker)))
            #expect(try DiskTestTools.checkClean(volume.path, keyID: key.id, inventory: inventory))
        }
        #expect(DiskTestTools.runDirectoryEntries(inventory).isEmpty)

        // A plain overlay fails the audit and lcm doctor names it.
        let plainName = "\(tag)-plain.qcow2"
        let plainFile = scratch.file("plain.qcow2").path
        try QemuImage.createPlain(path: plainFile, virtualSize: nil, backing: (basePath, "qcow2"))
        let plain = try DeviceVolumes.importFile(plainFile, as: plainName, into: pool)
        created.append(plainName)
        #expect(!(try EncryptionAudit.check(volume: plain).passed))
        try registerDesktop(tag, volumes: [booted.name, plainName], inventory: inventory)
        let settings = LCMSettings(home: inventory.home, connectURI: "qemu:///system")
        let failing = Doctor(context: LCMContext(settings: settings), quick: true).encryptionCheck()
        #expect(failing.status == .fail && failing.detail.contains(plainName) && !failing.detail.contains(booted.name),
                "\(failing.detail)")
        try inventory.write { try $0.execute(sql: "DELETE FROM volume WHERE name = ?", arguments: [plainName]) }
        let passing = Doctor(context: LCMContext(settings: settings), quick: true).encryptionCheck()
        #expect(passing.status == .pass, "\(passing.detail)")

        // Retirement's half: every copy of the key goes, and libvirt proves the secret is gone.
        let report = try DesktopKey.destroyAll(keyID: key.id, inventory: inventory)
        #expect(report.complete)
        #expect(report.items.filter { $0.outcome == .left }.count == 2, "the two volumes' keyslots remain for the wipe")
        #expect(try device.lookupSecret(uuid: booted.secretUUID) == nil)
    }

    /// `sh -c` script run by unshare: hides the pool directory under an empty tmpfs, then runs
    /// its arguments. A constant: the program and its arguments travel as positional parameters.
    static let hidePoolThenExec = "mount -t tmpfs lcm-hidden '/var/lib/libvirt/images/lcm' && exec \"$0\" \"$@\""

    func runInHiddenPoolNamespace(_ arguments: [String]) throws -> ProgramRun {
        try ProgramRun.run("/usr/bin/unshare", ["-m", "sh", "-c", Self.hidePoolThenExec, DiskTestEnvironment.testkit.path] + arguments)
    }

    /// Makes libvirtd listen on 127.0.0.1 (scripts/test-tcp-listener; does nothing when it already does).
    func ensureTCPListener() throws {
        if (try? Connection(uri: Self.tcpURI)) != nil { return }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/test-tcp-listener")
        let run = try ProgramRun.run("/bin/bash", [script.path])
        try #require(run.status == 0, "test-tcp-listener: \(run.stderr)")
    }

    /// Starts a TCG domain (OVMF, q35) whose disk is the encrypted overlay, and waits for the
    /// stand-in to power it off after writing its boot marker.
    func bootEncrypted(_ volume: EncryptedVolume, on device: Connection, directory: URL) throws {
        let name = "lcmtest-enc-\(UUID().uuidString.prefix(6).lowercased())"
        let console = directory.appendingPathComponent("console.log")
        let plainDisk = "<source file='\(volume.path)'/>"
        var xml = StandInDomain.xml(name: name, disk: volume.path, format: "qcow2", consoleLog: console.path,
                                    domainType: Accelerator(rawValue: LCMRunner.testAccelerator)?.domainType ?? "qemu")
        #expect(xml.contains(plainDisk))
        xml = xml.replacingOccurrences(of: plainDisk, with: """
            <source file='\(volume.path)'><encryption format='luks'><secret type='passphrase' uuid='\(volume.secretUUID)'/></encryption></source>
            """)
        let domain = try device.defineDomain(xml: xml)
        defer {
            if (try? domain.isActive) == true { try? domain.destroy() }
            try? domain.undefine(removeNVRAM: true, removeTPMState: true)
        }
        let start = ContinuousClock.now
        try domain.start()
        if case .running = try domain.state() {} else { Issue.record("the domain did not reach running: \(try domain.state())") }
        var stopped = false
        while DiskTestTools.seconds(since: start) < 180 {
            if try domain.state().isStopped { stopped = true; break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        print(String(format: "disk-engine: encrypted-overlay boot to power-off %.1f s", DiskTestTools.seconds(since: start)))
        let log = (try? String(contentsOf: console, encoding: .utf8)) ?? ""
        #expect(stopped, "the stand-in did not power off; console:\n\(log.suffix(2000))")
    }

    /// Records a desktop and its volumes in the inventory, as deploy will.
    func registerDesktop(_ name: String, volumes: [String], inventory: Inventory) throws {
        try inventory.write { db in
            let now = Date()
            try db.execute(sql: "INSERT INTO desktop (name, status, createdAt, updatedAt) VALUES (?, 'running', ?, ?)",
                           arguments: [name, now, now])
            let desktop = db.lastInsertedRowID
            for (index, volume) in volumes.enumerated() {
                try db.execute(sql: """
                    INSERT INTO volume (desktopID, role, pool, name, format, encrypted, createdAt)
                    VALUES (?, ?, 'lcm', ?, 'qcow2', 1, ?)
                    """, arguments: [desktop, index == 0 ? "os" : "data", volume, now])
            }
        }
    }
}
