import Foundation
import Libvirt
import Testing

extension LibvirtTests {
    @Suite("Domain")
    struct DomainTests {
        @Test("define, start, destroy, undefine on the mock driver")
        func mockLifecycle() throws {
            let connection = try Connection(uri: Fixtures.mockURI)
            #expect(try connection.listAllDomains().contains { try $0.name == "test" })

            let name = Fixtures.uniqueName("dom")
            let domain = try connection.defineDomain(xml: Fixtures.tcgDomainXML(name: name))
            defer { Fixtures.removeDomain(named: name, on: connection) }
            #expect(try domain.name == name)
            #expect(try !domain.isActive)

            try domain.start()
            guard case .running = try domain.state() else {
                Issue.record("expected running, got \(try domain.state())")
                return
            }
            try domain.destroy()
            #expect(try domain.state().isStopped)
        }

        @Test("a TCG domain runs, is destroyed and undefined on the real daemon")
        func systemLifecycle() throws {
            let connection = try Fixtures.system()
            let name = Fixtures.uniqueName("dom")
            let domain = try connection.defineDomain(xml: Fixtures.tcgDomainXML(name: name))
            defer { Fixtures.removeDomain(named: name, on: connection) }

            #expect(try domain.name == name)
            let uuid = try domain.uuidString
            #expect(uuid.count == 36)
            #expect(try connection.lookupDomain(uuid: uuid)?.name == name)
            #expect(try connection.lookupDomain(name: name)?.uuidString == uuid)
            #expect(try connection.listAllDomains().contains { try $0.uuidString == uuid })
            #expect(try domain.state() == .shutOff(reason: 0))

            try domain.start()
            #expect(try domain.isActive)
            guard case .running = try domain.state() else {
                Issue.record("expected running, got \(try domain.state())")
                return
            }
            #expect(try domain.xmlDescription().contains("<name>\(name)</name>"))
            #expect(try domain.xmlDescription(flags: [.inactive, .secure]).contains("type='qemu'"))

            // A diskless guest has no OS to honour ACPI: the graceful stop must time out
            // and leave the domain running.
            #expect(try domain.shutdown(timeout: .milliseconds(600)) == false)
            #expect(try domain.isActive)

            try domain.destroy()
            #expect(try !domain.isActive)
            guard case .shutOff = try domain.state() else {
                Issue.record("expected shut off, got \(try domain.state())")
                return
            }
            #expect(try domain.shutdown(timeout: .seconds(1)) == true, "an inactive domain counts as stopped")

            try domain.undefine(removeNVRAM: true, removeTPMState: true)
            #expect(try connection.lookupDomain(name: name) == nil)
            #expect(try connection.lookupDomain(uuid: uuid) == nil)

            // The stale handle reports "not found" as a typed error.
            let error = try #require(throws: LibvirtError.self) { try domain.start() }
            #expect(error.isNotFound)
        }

        @Test("undefine keeping NVRAM and TPM state works on a domain without either")
        func undefineKeepingState() throws {
            let connection = try Fixtures.system()
            let name = Fixtures.uniqueName("dom")
            let domain = try connection.defineDomain(xml: Fixtures.tcgDomainXML(name: name))
            defer { Fixtures.removeDomain(named: name, on: connection) }
            try domain.undefine(removeNVRAM: false, removeTPMState: false)
            #expect(try connection.lookupDomain(name: name) == nil)
        }

        @Test("a transient domain disappears when destroyed")
        func transientDomain() throws {
            let connection = try Fixtures.system()
            let name = Fixtures.uniqueName("transient")
            let domain = try connection.createTransientDomain(xml: Fixtures.tcgDomainXML(name: name))
            defer { Fixtures.removeDomain(named: name, on: connection) }
            #expect(try domain.isActive)
            try domain.destroy()
            #expect(try connection.lookupDomain(name: name) == nil)
        }

        @Test("looking up a missing domain returns nil, and a bad definition throws")
        func missingDomain() throws {
            let connection = try Fixtures.system()
            #expect(try connection.lookupDomain(name: Fixtures.uniqueName("missing")) == nil)
            #expect(try connection.lookupDomain(uuid: UUID().uuidString) == nil)

            let (result, stderr) = try Fixtures.capturingStandardError {
                try connection.defineDomain(xml: "<domain type='qemu'><name>broken")
            }
            #expect(stderr.isEmpty, "libvirt wrote to stderr: \(stderr)")
            let error = try #require(throws: LibvirtError.self) { try result.get() }
            #expect(!error.isNotFound)
            #expect(!error.message.isEmpty)
        }

        @Test("the serial console of a running TCG domain streams output without blocking")
        func console() throws {
            // Non-blocking streams only receive data while an event loop runs.
            try EventLoop.start()
            let connection = try Fixtures.system()
            let name = Fixtures.uniqueName("console")
            let domain = try connection.defineDomain(xml: Fixtures.tcgDomainXML(name: name, console: true))
            defer { Fixtures.removeDomain(named: name, on: connection) }
            try domain.start()

            let stream = try domain.openConsole(device: nil, nonBlocking: true)
            #expect(stream.isNonBlocking)
            // receive returns nil while nothing is ready instead of waiting.
            let deadline = ContinuousClock.now.advanced(by: .seconds(30))
            var output: [UInt8] = []
            while ContinuousClock.now < deadline, !String(decoding: output, as: UTF8.self).contains("Booting") {
                guard let bytes = try stream.receive(max: 4096) else {
                    Thread.sleep(forTimeInterval: 0.05)
                    continue
                }
                if bytes.isEmpty { break }
                output += bytes
            }
            #expect(String(decoding: output, as: UTF8.self).contains("Booting"), "SeaBIOS output on the console")
            // Typing into the console is accepted too.
            _ = try stream.send(Array("\r".utf8))

            try domain.destroy()
            try? stream.abort()
        }

        @Test("a console by device name, and a missing device is an error")
        func consoleByDevice() throws {
            let connection = try Fixtures.system()
            let name = Fixtures.uniqueName("console")
            let domain = try connection.defineDomain(xml: Fixtures.tcgDomainXML(name: name, console: true))
            defer { Fixtures.removeDomain(named: name, on: connection) }
            try domain.start()

            let stream = try domain.openConsole(device: "serial0", nonBlocking: true)
            _ = try stream.receive(max: 1024)
            try stream.abort()

            #expect(throws: LibvirtError.self) { try domain.openConsole(device: "nosuchdevice") }
            try domain.destroy()
        }
    }
}
