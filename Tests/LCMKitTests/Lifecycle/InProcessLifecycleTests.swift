import Foundation
import GRDB
import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// The entry points of each phase run in this process, as the command layer runs them, against a
/// real libvirtd, libguestfs appliance, qcow2 files and SQLite file: image import, the deployer,
/// the patcher, rollback and retirement. A context whose connection factory cannot reach the
/// device shows each failure path without a subprocess (exit 69, nothing changed); a fixed clock
/// shows the context's time is the one recorded.
@Suite("Entry points in-process (real libvirtd and libguestfs)", .serialized)
struct InProcessLifecycleTests {
    static let golden = WindowsDiskSpec { $0.computerName = "LCM-GOLDEN"; $0.generalized = true; $0.virtioDrivers = true; $0.controlSet = 2 }
    static let uri = "qemu:///system"
    /// 2031-01-02 00:00:00 UTC: far from the test's own time, so a row written with `Date()` instead
    /// of the context's clock shows.
    static let fixedTime = Date(timeIntervalSince1970: 1_925_078_400)

    let scratch = ScratchDirectory(prefix: "lcm-inprocess")
    let tag = String(UUID().uuidString.lowercased().prefix(6))

    func context(_ connections: ConnectionFactory = .libvirt, clock: WallClock = .system) -> LCMContext {
        let accelerator: Accelerator = ProcessInfo.processInfo.environment["LCM_TEST_ACCEL"] == "kvm" ? .kvm : .tcg
        let settings = LCMSettings(home: LCMHome(url: scratch.file("home")), connectURI: Self.uri, accelerator: accelerator)
        return LCMContext(settings: settings, connections: connections, clock: clock)
    }

    /// A device whose libvirtd is gone: every connection is refused, as a powered-off device's would be.
    static let unreachable = ConnectionFactory { _ in try Connection(uri: "qemu+tcp://127.0.0.1:1/system") }

    @Test func eachPhaseRunsInProcessAndAnUnreachableDeviceChangesNothing() throws {
        let live = context(clock: WallClock { Self.fixedTime })
        let cut = context(Self.unreachable)
        let inventory = try live.inventory()
        let device = "DEV-IP-\(tag)"
        var asset = AssetInput(assetTag: device, serial: "SN-\(device)")
        asset.libvirtURI = Self.uri
        _ = try inventory.write { db in try AssetIntake.add(db, asset, actor: live.actor) }

        // Image import: one appliance launch, journaled, in this process.
        let source = try WindowsDiskBuilder(log: { print("inprocess-tests: \($0)") }).images(for: [Self.golden])[0].url
        let imported = try ImageImport.run(ImageImportRequest(source: source.path, name: "gold-\(tag)"), context: live)
        #expect(imported.inspection.generalization.generalized, "\(imported.inspection.generalization)")

        func request(_ name: String) -> DeployRequest {
            var request = DeployRequest(desktop: name, device: device, image: "gold-\(tag)")
            request.vcpus = 1; request.memoryBytes = 512 << 20; request.osDiskBytes = 8 << 30; request.dataDiskBytes = 1 << 30
            request.computerName = "PC-IP"
            return request
        }
        var options = DeployOptions()
        options.start = false

        // The deployer with the device unreachable: the desktop fails with 69 before anything is made.
        let refused = try Deployer(context: cut, options: options).run([request("ip-cut-\(tag)")])
        #expect(refused.outcomes.map(\.state) == [.failed] && refused.outcomes.first?.exitCode == 69,
                "\(refused.outcomes.map { $0.error ?? "" })")
        #expect(try inventory.read { db in try DesktopStore.find(db, name: "ip-cut-\(tag)") } == nil, "a refused deploy left a desktop row")

        let name = "ip-\(tag)"
        let deployed = try Deployer(context: live, options: options).run([request(name)])
        #expect(deployed.outcomes.map(\.state) == [.deployed], "\(deployed.outcomes.map { $0.error ?? "" })")
        let connection = try Connection(uri: Self.uri)
        defer {
            if let domain = try? connection.lookupDomain(name: name) { try? domain.undefine(removeNVRAM: true, removeTPMState: true) }
        }
        #expect(try connection.lookupDomain(name: name) != nil)
        let volumesBefore = try inventory.read { db in try String.fetchAll(db, sql: "SELECT name FROM volume ORDER BY name") }

        // The patcher and rollback with the device unreachable: each desktop fails with 69, no layer is made.
        let reg = scratch.file("fix.reg")
        try "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\LCMInProcess]\r\n\"Run\"=\"yes\"\r\n"
            .write(to: reg, atomically: true, encoding: .utf8)
        let set = try PatchSet(paths: [reg.path])
        let patcher = try DesktopPatcher(context: cut)
        let patch = try patcher.run(set, desktops: try patcher.select(names: [name], device: nil, all: false))
        #expect(patch.outcomes.map(\.state) == [.failed] && patch.outcomes.first?.exitCode == 69, "\(patch.outcomes)")
        let rollback = try DesktopRollback(context: cut).run(desktops: [name])
        #expect(rollback.outcomes.map(\.state) == [.failed] && rollback.outcomes.first?.exitCode == 69, "\(rollback.outcomes)")
        // Retirement with the device unreachable: refused before its row is written.
        var retire = RetireOptions(operatorName: "in-process test")
        retire.verify = .sample
        #expect {
            try Retirement(context: cut, options: retire).run(name)
        } throws: { ($0 as? LCMError)?.code == .unavailable }
        #expect(try inventory.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM retirement") } == 0, "a refused retirement left a row")
        #expect(try inventory.read { db in try String.fetchAll(db, sql: "SELECT name FROM volume ORDER BY name") } == volumesBefore)
        #expect(try inventory.read { db in try DesktopStore.find(db, name: name)?.status } != .retiring)

        // Retirement in-process: every disk wiped, the key destroyed, a certificate dated by the context's clock.
        let retired = try Retirement(context: live, options: retire).run(name)
        #expect(retired.state == .closed, "\(retired.progress)")
        #expect(try connection.lookupDomain(name: name) == nil)
        let issued = try inventory.read { db in
            try Date.fetchOne(db, sql: "SELECT issuedAt FROM certificate WHERE subjectName = ?", arguments: [name])
        }
        #expect(issued == Self.fixedTime, "certificate recorded at \(String(describing: issued)), not the context's time")
        #expect(retired.progress.files.allSatisfy(\.removed) && !retired.plan.files.isEmpty, "\(retired.progress.files)")
        let remaining = retired.plan.files.map(\.path).filter { FileManager.default.fileExists(atPath: $0) }
        #expect(remaining.isEmpty, "retirement left \(remaining)")
    }
}
