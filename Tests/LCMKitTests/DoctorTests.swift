import Foundation
@testable import LCMKit
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
        let check = Doctor(settings: settings, quick: true).homeCheck()
        #expect(check.status == .fail)
        #expect(check.fix?.contains("--home") == true)
    }

    @Test func probeMarkerSearch() {
        let text = Array("noise VFS: Unable to mount root fs on unknown-block".utf8)
        #expect(AcceleratorProbe.contains(text, Array(AcceleratorProbe.marker.utf8)))
        #expect(!AcceleratorProbe.contains(Array("VFS: Unable".utf8), Array(AcceleratorProbe.marker.utf8)))
    }
}
