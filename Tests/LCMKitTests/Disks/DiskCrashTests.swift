import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// kill -9 in the middle of a batch (appliance launched, qemu-nbd serving), then an immediate
/// rerun: it completes, and nothing of the killed run is left.
extension DiskIntegrationTests {
    @Test func killedBatchIsCleanedUpAndTheRerunCompletesAtOnce() throws {
        let base = try DiskFixtures.shared.image(DiskFixtures.baseSpec).url.path
        let scratch = ScratchDirectory(prefix: "lcm-crash")
        let inventory = try DiskTestTools.inventory(scratch)
        let key = try DesktopKey.create(ownerKind: "desktop", ownerID: "crash-test", inventory: inventory)
        var volumes: [DiskVolume] = []
        let encrypted = scratch.file("enc0.qcow2").path
        try DiskTestTools.encryptedOverlay(at: encrypted, base: base, keyID: key.id, inventory: inventory)
        volumes.append(.file(encrypted, name: "enc0", keyID: key.id))
        let copy = scratch.file("enc1.qcow2").path
        try FileManager.default.copyItem(atPath: encrypted, toPath: copy)
        volumes.append(.file(copy, name: "enc1", keyID: key.id))
        for index in 0..<2 {
            let path = scratch.file("plain\(index).qcow2").path
            try DiskTestTools.plainOverlay(at: path, base: base)
            volumes.append(.file(path, name: "plain\(index)"))
        }
        let list = scratch.file("volumes.json")
        try DiskTestTools.writeVolumes(volumes, to: list)
        let arguments = ["disk-batch", "--home", inventory.home.path, "--object", "crash-batch", "--volumes", list.path,
                         "--accel", LCMRunner.testAccelerator, "--write-file", "lcm-marker.txt", "--hive-value", "Marker",
                         "--marker", "after-crash"]

        let killed = try ProgramRun.run(DiskTestEnvironment.testkit, arguments,
                                        environment: ["LCM_FAILPOINT": "disk-engine:launched:ran"])
        #expect(killed.signaled && killed.status == SIGKILL, "the batch was not killed: \(killed.stderr)")
        // The killed run left its operation running, with its helpers recorded.
        let recorded = try inventory.read { db in
            try String.fetchAll(db, sql: """
                SELECT r.kind FROM operationResource r JOIN operation o ON o.id = r.operationID
                WHERE o.state = 'running' AND r.released = 0
                """)
        }
        #expect(recorded.filter { $0 == "process" }.count >= 3, "qemu-nbd x2 and the appliance: \(recorded)")

        let start = ContinuousClock.now
        let rerun = try ProgramRun.run(DiskTestEnvironment.testkit, arguments)
        print(String(format: "disk-engine: rerun after kill -9 took %.1f s", DiskTestTools.seconds(since: start)))
        #expect(rerun.status == 0, "rerun failed: \(rerun.stderr)\n\(rerun.stdout)")
        let output = try DiskTestTools.decode(rerun)
        #expect(output.disks.allSatisfy { $0.ok }, "\(output.disks.map { "\($0.name): \(String(describing: $0.failure))" })")
        #expect(output.launches == 1)

        // Nothing of either run remains: processes, sockets, key files, batch directories, locks.
        #expect(DiskTestTools.processes(mentioning: inventory.home.path).isEmpty)
        #expect(DiskTestTools.processes(mentioning: scratch.path).isEmpty)
        #expect(DiskTestTools.runDirectoryEntries(inventory).isEmpty, "\(DiskTestTools.runDirectoryEntries(inventory))")
        for volume in volumes {
            let lock = FileLock(path: ObjectLock.path(home: inventory.home, kind: "volume", id: volume.lockID))
            #expect(try lock.lock(timeout: 0), "\(volume.name) still locked")
            lock.unlock()
            guard case .file(let path) = volume.location else { continue }
            // qemu's own image lock is free too, and the image is consistent.
            #expect(try DiskTestTools.checkClean(path, keyID: volume.keyID, inventory: inventory), "\(volume.name)")
        }
        let states = try inventory.read { try String.fetchAll($0, sql: "SELECT state FROM operation ORDER BY startedAt") }
        #expect(states == ["rolled_back", "completed"])
        let unreleased = try inventory.read {
            try Int.fetchOne($0, sql: "SELECT count(*) FROM operationResource WHERE released = 0") ?? -1
        }
        #expect(unreleased == 0)
    }
}
