import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// Batches of local disks through one appliance: encrypted overlays hold what was written in
/// ciphertext only, one bad disk fails alone, and every kind of bad disk is reported for what it is.
extension DiskIntegrationTests {
    /// 20 overlays on a Windows-shaped base (10 LUKS-encrypted, 9 plain, 1 truncated) get a file
    /// and a hive value each in one batch; a second, read-only batch reads both back alongside
    /// a missing, a locked, a busy, a wrongly keyed and an unkeyed disk. Two launches in all.
    @Test func batchWritesThroughEncryptedOverlaysAndIsolatesBadDisks() throws {
        let base = try DiskFixtures.shared.image(DiskFixtures.baseSpec).url.path
        let scratch = ScratchDirectory(prefix: "lcm-engine")
        let inventory = try DiskTestTools.inventory(scratch)
        let key = try DesktopKey.create(ownerKind: "desktop", ownerID: "engine-test", inventory: inventory)
        let otherKey = try DesktopKey.create(ownerKind: "desktop", ownerID: "engine-other", inventory: inventory)

        // One encrypted overlay is created (PBKDF calibration costs ~2 s) and copied: same key.
        let template = scratch.file("template.qcow2").path
        try DiskTestTools.encryptedOverlay(at: template, base: base, keyID: key.id, inventory: inventory)
        var volumes: [DiskVolume] = []
        for index in 0..<10 {
            let path = scratch.file("enc\(index).qcow2").path
            try FileManager.default.copyItem(atPath: template, toPath: path)
            volumes.append(.file(path, name: "enc\(index)", keyID: key.id))
        }
        for index in 0..<9 {
            let path = scratch.file("plain\(index).qcow2").path
            try DiskTestTools.plainOverlay(at: path, base: base)
            volumes.append(.file(path, name: "plain\(index)"))
        }
        let truncated = scratch.file("truncated.qcow2").path
        try DiskTestTools.plainOverlay(at: truncated, base: base)
        #expect(truncate(truncated, 100_000) == 0)
        volumes.insert(.file(truncated, name: "truncated"), at: 7)

        let marker = "LCM-ENGINE-MARKER-\(UUID().uuidString.prefix(8))"
        let start = ContinuousClock.now
        let written = try DiskBatch.run(inventory: inventory, objectID: "engine-write", volumes: volumes,
                                        options: DiskTestEnvironment.options) { disk -> String in
            let g = disk.session
            let windows = try DiskTestTools.mountWindows(disk)
            try g.writeString("/lcm-marker.txt", "\(marker) \(disk.volume.name)\n")
            try g.withHive(try g.caseSensitivePath("/Windows/System32/config/SOFTWARE"), write: true) { g in
                let node = try #require(try g.node(atPath: "LCMTest", create: true))
                try g.nodeSetValue(node, key: "Marker", .string("\(marker) \(disk.volume.name)"))
            }
            return windows
        }
        print(String(format: "disk-engine: 20-disk write batch %.1f s, %d launch(es) (preparing %.1f, launching %.1f, working %.1f, finishing %.1f)",
                     DiskTestTools.seconds(since: start), written.launches, written.secondsPreparing, written.secondsLaunching,
                     written.secondsWorking, written.secondsFinishing))
        #expect(written.launches <= 3)
        #expect(written.launches == 1, "no launch should fail: the bad disk never reaches one")
        #expect(written.succeeded.count == 19, "\(written.failed.map { "\($0.volume.name): \(String(describing: $0.failure))" })")
        let bad = try #require(written.failed.first)
        #expect(written.failed.count == 1 && bad.volume.name == "truncated")
        #expect(bad.failure?.stage == .validate && bad.failure?.reason == .corrupt, "\(String(describing: bad.failure))")

        // Ciphertext only: the marker is not in the encrypted files, but is in the plain ones
        // (which shows the test would see it); every image checks clean.
        for volume in volumes where volume.name != "truncated" {
            guard case .file(let path) = volume.location else { continue }
            let plain = try DiskTestTools.fileContains(path, marker)
            #expect(plain == (volume.keyID == nil), "\(volume.name): marker in plaintext = \(plain)")
            #expect(try DiskTestTools.checkClean(path, keyID: volume.keyID, inventory: inventory), "\(volume.name)")
        }
        try expectNoLeftovers(inventory: inventory, scratch: scratch)

        // Read back, read-only, together with every other kind of bad disk.
        let held = scratch.file("held.qcow2").path
        try DiskTestTools.plainOverlay(at: held, base: base)
        let holder = try holdImageLock(held, socket: scratch.file("holder.sock").path)
        // SIGKILL: a process the test starts inherits the runtime thread's blocked SIGTERM.
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
        let busyPath = scratch.file("enc1.qcow2").path
        let wrongKey = scratch.file("wrong-key.qcow2").path
        try FileManager.default.copyItem(atPath: template, toPath: wrongKey)
        let noKey = scratch.file("no-key.qcow2").path
        try FileManager.default.copyItem(atPath: template, toPath: noKey)
        var readBack = volumes.filter { $0.name != "truncated" && $0.name != "enc1" }
        readBack += [
            .file(scratch.file("missing.qcow2").path, name: "missing"),
            .file(held, name: "locked"),
            .file(busyPath, name: "busy", keyID: key.id),
            .file(wrongKey, name: "wrong-key", keyID: otherKey.id),
            .file(noKey, name: "no-key"),
        ]
        // Another lcm run "has" enc1 open.
        let busyLock = FileLock(path: ObjectLock.path(home: inventory.home, kind: "volume", id: "file:\(busyPath)"))
        #expect(try busyLock.lock(timeout: 0))
        defer { busyLock.unlock() }

        var readOptions = DiskTestEnvironment.options
        readOptions.readOnly = true
        let read = try DiskBatch.run(inventory: inventory, objectID: "engine-read", volumes: readBack,
                                     options: readOptions) { disk -> [String] in
            let g = disk.session
            _ = try DiskTestTools.mountWindows(disk)
            let file = try g.readString("/lcm-marker.txt")
            let hive = try g.withHive(try g.caseSensitivePath("/Windows/System32/config/SOFTWARE")) { g -> String in
                guard let node = try g.node(atPath: "LCMTest"), case .string(let text)? = try g.value(node, "Marker") else { return "" }
                return text
            }
            return [file, hive]
        }
        print(String(format: "disk-engine: read-back batch %.1f s (preparing %.1f, launching %.1f, working %.1f, finishing %.1f)",
                     read.secondsTotal, read.secondsPreparing, read.secondsLaunching, read.secondsWorking, read.secondsFinishing))
        #expect(read.launches == 1)
        for result in read.results {
            switch result.volume.name {
            case "missing": #expect(result.failure?.reason == .missing)
            case "locked": #expect(result.failure?.reason == .locked, "\(String(describing: result.failure))")
            case "busy": #expect(result.failure?.reason == .busy)
            case "wrong-key": #expect(result.failure?.reason == .undecryptable, "\(String(describing: result.failure))")
            case "no-key": #expect(result.failure?.reason == .undecryptable)
            default:
                #expect(result.value == ["\(marker) \(result.volume.name)\n", "\(marker) \(result.volume.name)"],
                        "\(result.volume.name): \(String(describing: result.outcome))")
            }
        }
        #expect(read.succeeded.count == 18)
        try expectNoLeftovers(inventory: inventory, scratch: scratch, except: "holder.sock")
    }

    /// A call that never returns (here: the appliance told to sleep past the limit) stops its
    /// appliance at the time limit; that disk fails saying so, the others finish in a relaunch.
    @Test func hungCallStopsItsApplianceAndTheOtherDisksRelaunch() throws {
        let base = try DiskFixtures.shared.image(DiskFixtures.baseSpec).url.path
        let scratch = ScratchDirectory(prefix: "lcm-watchdog")
        let inventory = try DiskTestTools.inventory(scratch)
        var volumes: [DiskVolume] = []
        for index in 0..<3 {
            let path = scratch.file("disk\(index).qcow2").path
            try DiskTestTools.plainOverlay(at: path, base: base)
            volumes.append(.file(path, name: "disk\(index)"))
        }
        var options = DiskTestEnvironment.options
        options.callTimeout = 4
        let start = ContinuousClock.now
        let report = try DiskBatch.run(inventory: inventory, objectID: "engine-watchdog", volumes: volumes,
                                       options: options) { disk -> String in
            if disk.volume.name == "disk1" { try disk.session.sleep(seconds: 120) }
            return try DiskTestTools.mountWindows(disk)
        }
        let seconds = DiskTestTools.seconds(since: start)
        print(String(format: "disk-engine: hung-call batch %.1f s, %d launches", seconds, report.launches))
        #expect(seconds < 120, "the batch waited for the hung call instead of stopping it")
        #expect(report.launches == 2)
        #expect(report.succeeded.map(\.volume.name).sorted() == ["disk0", "disk2"])
        let hung = try #require(report.results.first { $0.volume.name == "disk1" })
        #expect(hung.failure?.stage == .work)
        #expect(hung.failure?.message.contains("no answer to sleep within 4 s") == true, "\(String(describing: hung.failure))")
        try expectNoLeftovers(inventory: inventory, scratch: scratch)

        // Read-only, the disk whose appliance hung is tried once more in the relaunch: here the
        // appliance hangs on its first attempt only, so all three are read.
        options.readOnly = true
        let attempts = AttemptCounter()
        let read = try DiskBatch.run(inventory: inventory, objectID: "engine-watchdog-read", volumes: volumes,
                                     options: options) { disk -> String in
            if disk.volume.name == "disk1", attempts.next() == 1 { try disk.session.sleep(seconds: 120) }
            return try DiskTestTools.mountWindows(disk)
        }
        #expect(attempts.count == 2)
        #expect(read.launches == 2)
        #expect(read.succeeded.map(\.volume.name).sorted() == ["disk0", "disk1", "disk2"],
                "\(read.failed.map { "\($0.volume.name): \(String(describing: $0.failure))" })")
        try expectNoLeftovers(inventory: inventory, scratch: scratch)
    }

    /// No qemu-nbd or appliance of this test left, nothing in `$LCM_HOME/run`, no unfinished operation.
    func expectNoLeftovers(inventory: Inventory, scratch: ScratchDirectory, except: String? = nil) throws {
        let processes = DiskTestTools.processes(mentioning: inventory.home.runURL.path)
            + DiskTestTools.processes(mentioning: scratch.path).filter { except == nil || !$0.command.contains(except!) }
        #expect(processes.isEmpty, "left running: \(processes)")
        #expect(DiskTestTools.runDirectoryEntries(inventory).isEmpty, "left in run/: \(DiskTestTools.runDirectoryEntries(inventory))")
        #expect(try OperationJournal(inventory: inventory, registry: .standard).unfinishedCount() == 0)
    }

    /// Keeps an image's write lock held by a qemu-nbd of the test's own, as a running domain would.
    func holdImageLock(_ path: String, socket: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-nbd")
        process.arguments = ["--persistent", "--socket=\(socket)", "--format=qcow2", path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 where !NBDServer.greets(socket) { usleep(50_000) }
        return process
    }
}

extension DiskTestTools {
    /// Mounts the Windows volume (the largest NTFS partition) at `/` and returns its device.
    @discardableResult
    static func mountWindows(_ disk: DiskAccess) throws -> String {
        let g = disk.session
        var best: (device: String, size: Int64)?
        for partition in try disk.partitions() where (try? g.vfsType(partition)) == "ntfs" {
            let size = try g.blockdevGetSize64(partition)
            if best == nil || size > best!.size { best = (partition, size) }
        }
        let windows = try #require(best?.device)
        try g.mount(windows, at: "/")
        return windows
    }
}

/// Counts the attempts on one disk across launches.
private final class AttemptCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
    var count: Int { lock.withLock { value } }
}
