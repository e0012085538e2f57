import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

@Suite struct DoctorTests {
    static let domainCapabilities = """
        <domainCapabilities><os supported='yes'>
          <loader supported='yes'>
            <value>/usr/share/OVMF/OVMF_CODE_4M.fd</value>
            <enum name='type'><value>rom</value><value>pflash</value></enum>
            <enum name='secure'><value>no</value></enum>
          </loader></os>
          <devices><tpm supported='yes'><enum name='model'><value>tpm-crb</value></enum>
          <enum name='backendModel'><value>emulator</value></enum></tpm></devices>
        </domainCapabilities>
        """

    @Test func readsValuesOfANamedSection() {
        let loaders = CapabilitiesText.values(in: Self.domainCapabilities, section: "loader")
        #expect(loaders.contains("/usr/share/OVMF/OVMF_CODE_4M.fd"))
        #expect(CapabilitiesText.values(in: Self.domainCapabilities, section: "enum name='secure'") == ["no"])
        #expect(CapabilitiesText.values(in: Self.domainCapabilities, section: "tpm").contains("emulator"))
        #expect(CapabilitiesText.values(in: Self.domainCapabilities, section: "hostdev").isEmpty)
    }

    @Test func homeCheckFailsForAnUnwritableLocation() throws {
        let blocker = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("lcm-doctor-\(UUID().uuidString)")
        try Data().write(to: blocker)
        defer { try? FileManager.default.removeItem(at: blocker) }
        let settings = LCMSettings(home: LCMHome(url: blocker.appendingPathComponent("home")), connectURI: "test:///default")
        let check = Doctor(context: LCMContext(settings: settings), quick: true).homeCheck()
        #expect(check.status == .fail)
        #expect(check.fix?.contains("--home") == true)
    }

    @Test func probeMarkerSearch() {
        let text = Array("noise VFS: Unable to mount root fs on unknown-block".utf8)
        #expect(AcceleratorProbe.contains(text, Array(AcceleratorProbe.marker.utf8)))
        #expect(!AcceleratorProbe.contains(Array("VFS: Unable".utf8), Array(AcceleratorProbe.marker.utf8)))
    }
}

extension DoctorTests {
    /// Files in run/ are sorted three ways: a live run's (not reported), a dead run's (`lcm
    /// recover` removes them) and unrecorded ones (by hand).
    @Test func leftoverCheckNamesWhatDeadRunsAndNoRunLeft() throws {
        let scratch = ScratchDirectory(prefix: "lcm-doctor-leftovers")
        let home = LCMHome(url: scratch.file("home"))
        let inventory = try Inventory.open(home: home)
        #expect(LeftoverCheck(home: home).run().status == .pass)
        let run = home.runURL
        for name in ["live.qcow2", "dead.raw", "stray.raw"] { try Data(count: 4096).write(to: run.appendingPathComponent(name)) }
        // A pid that is certainly gone: a child that has exited and been reaped.
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run(); exited.waitUntilExit()
        try inventory.write { db in
            for (id, pid, file) in [("op-live", Int64(getpid()), "live.qcow2"), ("op-dead", Int64(exited.processIdentifier), "dead.raw")] {
                try db.execute(sql: """
                    INSERT INTO operation (id, kind, objectKind, objectID, state, plan, parameters, ownerPID, startedAt, updatedAt)
                    VALUES (?, 'toy', 'desktop', ?, 'running', '[]', '{}', ?, ?, ?)
                    """, arguments: [id, id, pid, Date(), Date()])
                try db.execute(sql: "INSERT INTO operationResource (operationID, kind, value, processStartTime, released, createdAt) VALUES (?, 'file', ?, NULL, 0, ?)",
                               arguments: [id, run.appendingPathComponent(file).path, Date()])
            }
        }
        let check = LeftoverCheck(home: home).run()
        #expect(check.status == .warn)
        #expect(check.detail.contains("left by runs that died: dead.raw"), "\(check.detail)")
        #expect(check.detail.contains("recorded by no run: stray.raw"), "\(check.detail)")
        #expect(!check.detail.contains("live.qcow2"), "\(check.detail)")
        #expect(check.fix?.contains("lcm recover") == true && check.fix?.contains("by hand") == true)
    }
}
