import Foundation
import Libvirt
import Testing

extension LibvirtTests {
    @Suite("Connection")
    struct ConnectionTests {
        @Test("the default URI follows the effective user")
        func defaultURI() {
            #expect(Connection.defaultURI == (geteuid() == 0 ? "qemu:///system" : "qemu:///session"))
        }

        @Test("host facts from the mock driver")
        func mockHostFacts() throws {
            let connection = try Connection(uri: Fixtures.mockURI)
            #expect(try connection.uri == Fixtures.mockURI)
            #expect(try connection.hypervisorType == "TEST")
            #expect(connection.isAlive)
            let info = try connection.nodeInfo()
            #expect(info.cpus > 0)
            #expect(!info.model.isEmpty)
            #expect(try connection.capabilitiesXML().contains("<capabilities>"))
        }

        @Test("host facts from the real daemon")
        func systemHostFacts() throws {
            let connection = try Fixtures.system()
            #expect(try connection.uri == Fixtures.systemURI)
            #expect(try connection.hypervisorType == "QEMU")
            #expect(try !connection.hostname.isEmpty)
            #expect(connection.isAlive)

            let version = try connection.libraryVersion
            #expect(version.split(separator: ".").count == 3)
            #expect(!version.hasPrefix("0."))
            #expect(try connection.hypervisorVersion.split(separator: ".").count == 3)

            let info = try connection.nodeInfo()
            #expect(info.cpus > 0)
            #expect(info.memoryKiB > 0)
            #expect(info.model == "x86_64")

            #expect(try connection.capabilitiesXML().contains("<capabilities>"))
            let domainCapabilities = try connection.domainCapabilitiesXML(
                emulatorBinary: nil, arch: "x86_64", machine: "pc", virtType: "qemu")
            #expect(domainCapabilities.contains("<domainCapabilities>"))
            #expect(domainCapabilities.contains("<domain>qemu</domain>"))
        }

        @Test("a refused connection throws quickly and libvirt prints nothing")
        func refusedConnectionIsSilent() throws {
            let clock = ContinuousClock()
            let start = clock.now
            let (result, stderr) = try Fixtures.capturingStandardError {
                try Connection(uri: "qemu+tcp://127.0.0.1:1/system")
            }
            let elapsed = clock.now - start

            #expect(stderr.isEmpty, "libvirt wrote to stderr: \(stderr)")
            #expect(elapsed < .seconds(10))
            switch result {
            case .success:
                Issue.record("connecting to a closed port succeeded")
            case .failure(let error):
                let failure = try #require(error as? LibvirtError)
                #expect(failure.isConnectionFailure)
                #expect(!failure.isNotFound)
                #expect(!failure.message.isEmpty)
                #expect(failure.description.contains(failure.message))
            }
        }

        @Test("an unknown driver throws a LibvirtError without printing")
        func unknownDriverIsSilent() throws {
            let (result, stderr) = try Fixtures.capturingStandardError {
                try Connection(uri: "nosuchdriver:///system")
            }
            #expect(stderr.isEmpty, "libvirt wrote to stderr: \(stderr)")
            #expect(throws: LibvirtError.self) { try result.get() }
        }
    }
}
