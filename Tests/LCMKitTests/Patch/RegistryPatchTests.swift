import Foundation
import Guestfs
@testable import LCMKit
import LCMTestSupport
import Testing

/// .reg files applied to a Windows-shaped disk's offline hives, read back outside lcm with
/// hivexregedit (the hive files downloaded from the same launch).
extension DiskIntegrationTests {
    @Test func regFilesLandInTheOfflineHivesUnderTheCurrentControlSet() throws {
        // Control set 2 is current: a CurrentControlSet written to ControlSet001 would show.
        let base = try DiskFixtures.shared.image(PersonalizationTests.generalizedSpec).url.path
        let scratch = ScratchDirectory(prefix: "lcm-regpatch")
        let inventory = try DiskTestTools.inventory(scratch)
        let overlay = scratch.file("desktop.qcow2").path
        try DiskTestTools.plainOverlay(at: overlay, base: base)

        let policy = try RegFile(data: RegFileTests.utf16("""
            Windows Registry Editor Version 5.00

            [HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\LcmTest]
            "Text"="a \\"quoted\\" C:\\\\path"
            "Level"=dword:0000002a
            "Blob"=hex:de,ad,\\
              be,ef
            "Multi"=hex(7):61,00,00,00,62,00,00,00,00,00
            @="default"

            [HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\LcmTest\\Doomed]
            "X"=dword:1

            [HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\LcmTest]
            "Start"=dword:00000004
            """), name: "policy.reg")
        let cleanup = try RegFile(data: Data("REGEDIT4\n\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\LcmTest\\Doomed]\n".utf8),
                                  name: "cleanup.reg")
        let patch = RegistryPatch(files: [policy, cleanup])
        let out = scratch.file("hives").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let report = try DiskBatch.run(inventory: inventory, objectID: "regpatch", volumes: [.file(overlay, name: "desktop")],
                                       options: DiskTestEnvironment.options) { disk -> RegistryPatch.Outcome in
            let g = disk.session
            try DiskTestTools.mountWindows(disk)
            let config = try g.caseSensitivePath("/Windows/System32/config")
            let system = try g.caseSensitivePath(config + "/SYSTEM"), software = try g.caseSensitivePath(config + "/SOFTWARE")
            let outcome = try patch.apply(g, systemHive: system, softwareHive: software)
            try g.download(system, to: out + "/SYSTEM")
            try g.download(software, to: out + "/SOFTWARE")
            return outcome
        }
        let outcome = try #require(report.results.first?.value, "\(String(describing: report.results.first?.failure))")
        #expect(outcome.valuesSet == 7)
        #expect(outcome.keysDeleted == 1)
        #expect(outcome.checked == 9, "2 keys present, 1 gone, 6 values")

        func export(_ hive: String, _ key: String) throws -> String {
            let run = try ProgramRun.run("/usr/bin/hivexregedit", ["--export", "\(out)/\(hive)", key])
            try #require(run.status == 0, "\(run.stderr)")
            return run.stdout
        }
        let policyExport = try export("SOFTWARE", "Policies\\LcmTest")
        let utf16Hex = { (text: String) in
            (Array(text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } + [0, 0]).map { String(format: "%02x", $0) }.joined(separator: ",")
        }
        #expect(policyExport.contains("\"Text\"=hex(1):\(utf16Hex("a \"quoted\" C:\\path"))"), "\(policyExport)")
        #expect(policyExport.contains("\"Level\"=dword:0000002a"), "\(policyExport)")
        #expect(policyExport.contains("\"Blob\"=hex(3):de,ad,be,ef"), "\(policyExport)")
        #expect(policyExport.contains("\"Multi\"=hex(7):61,00,00,00,62,00,00,00,00,00"), "\(policyExport)")
        #expect(policyExport.contains("@=hex(1):\(utf16Hex("default"))"), "\(policyExport)")
        #expect(!policyExport.contains("Doomed"), "\(policyExport)")
        #expect(try export("SYSTEM", "ControlSet002\\Services\\LcmTest").contains("\"Start\"=dword:00000004"))
        let stale = try ProgramRun.run("/usr/bin/hivexregedit", ["--export", "\(out)/SYSTEM", "ControlSet001\\Services\\LcmTest"])
        #expect(stale.status != 0, "the stale control set got the key: \(stale.stdout)")
        #expect(try DiskTestTools.checkClean(overlay, keyID: nil, inventory: inventory))
    }
}
