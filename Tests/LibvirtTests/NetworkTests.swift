import Foundation
import Libvirt
import Testing

extension LibvirtTests {
    /// Lookups only; a defined-but-stopped network on the real daemon is covered by the deploy
    /// tests (lcm refuses to start desktops on it).
    @Suite("Network")
    struct NetworkTests {
        @Test("networks are found by name with their state; an unknown one is nil")
        func lookupOnTheMockDriver() throws {
            let mock = try Connection(uri: Fixtures.mockURI)
            let network = try #require(try mock.lookupNetwork(name: "default"))
            #expect(try network.name == "default")
            #expect(try network.isActive)
            #expect(try mock.lookupNetwork(name: Fixtures.uniqueName("net")) == nil)
        }

        @Test("an unknown network on the real daemon is nil, not an error")
        func unknownOnTheRealDaemon() throws {
            #expect(try Fixtures.system().lookupNetwork(name: Fixtures.uniqueName("net")) == nil)
        }
    }
}
