import Foundation
@testable import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// The domain lcm defines as a typed value: value -> XML -> value keeps every field, libvirt's
/// schema accepts it, and the real daemon (qemu:///system) gives back every field lcm owns after
/// define and dumpxml, including what the next features need (a network filter reference, USB
/// redirection with its filter).
@Suite(.serialized)
struct DomainDefinitionTests {
    static let secretA = "0f2a6c1e-6b1d-4b8e-9d7a-3c5e2f1a0b9c"
    static let secretB = "7d9e1f20-3a4b-4c5d-8e6f-708192a3b4c5"

    /// A desktop as deploy and patch make it: encrypted OS layer over a spelled-out chain,
    /// encrypted data disk, encrypted vTPM, Secure Boot, and the policy devices to come.
    static func desktop(name: String, domainType: DesktopDomain.DomainType = .qemu) throws -> DomainDefinition {
        let pool = "/var/lib/libvirt/images/lcm"
        let domain = DesktopDomain(
            name: name, title: "Ada & <Lovelace>", description: "first line\nsecond 'line'", vcpus: 2, memoryMiB: 1024,
            domainType: domainType,
            disks: [DesktopDomain.Disk(path: "\(pool)/\(name)-os-2.qcow2", luksSecretUUID: secretA,
                                       backingChain: [.init(path: "\(pool)/\(name)-os.qcow2", luksSecretUUID: secretA),
                                                      .init(path: "\(pool)/golden-1.qcow2")]),
                    DesktopDomain.Disk(path: "\(pool)/\(name)-data.qcow2", luksSecretUUID: secretA)],
            network: DesktopDomain.Network(source: .network("default"), model: .virtio, macAddress: "52:54:00:12:34:56"),
            tpm: DesktopDomain.TPM(encryptionSecretUUID: secretB), graphics: .spice)
        var definition = try domain.definition()
        definition.devices.interfaces[0].filter = FilterReference(filter: "clean-traffic", parameters: [.init(name: "IP", value: "10.0.0.5")])
        definition.devices.redirectedDevices = [.init(bus: "usb", type: "spicevmc")]
        definition.devices.redirectionFilters = [RedirectionFilter(rules: [
            .init(deviceClass: 0x08, allow: false), .init(vendor: 0x046d, product: 0xc52b, allow: true), .init(allow: false),
        ])]
        return definition
    }

    @Test(arguments: [DesktopDomain.DomainType.qemu, .kvm])
    func aDesktopDefinitionRoundTripsThroughItsXMLAndLibvirtsSchema(_ type: DesktopDomain.DomainType) throws {
        let definition = try Self.desktop(name: "desk-rt", domainType: type)
        try LibvirtSchema.validate(definition.xml, as: "domain")
        let back = try DomainDefinition(xml: definition.xml)
        #expect(back == definition)
        #expect(back.devices.disks[0].backingChain.map { $0.source?.file } == ["/var/lib/libvirt/images/lcm/desk-rt-os.qcow2",
                                                                               "/var/lib/libvirt/images/lcm/golden-1.qcow2"])
        #expect(back.devices.disks[0].backingChainClosed && back.devices.disks[0].source?.encryption?.secretUUID == Self.secretA)
        #expect((back.features?.hyperv != nil) == (type == .kvm))
    }

    /// What deploy defined before this layer existed, byte for byte where tests read it: the
    /// serial line a test rewrites, and the disk element an encrypted volume makes.
    @Test func theDesktopXMLKeepsItsShape() throws {
        let xml = try DesktopDomain(name: "shape", domainType: .qemu, disks: [.init(path: "/d/a.qcow2")]).xml()
        #expect(xml.hasPrefix("<domain type='qemu'>\n  <name>shape</name>\n"))
        #expect(xml.contains("\n    <serial type='pty'><target port='0'/></serial>\n"))
        #expect(xml.contains("<console type='pty'><target type='serial' port='0'/></console>"))
        #expect(xml.contains("<on_crash>preserve</on_crash>") && xml.hasSuffix("</domain>\n"))
    }

    /// The probe `procure check` boots: accepted by libvirt's schema, read back the same.
    @Test func theAcceleratorProbeDefinitionIsValid() throws {
        let probe = AcceleratorProbe.definition(domainType: "qemu", name: "lcm-probe-1", kernelPath: "/var/lib/libvirt/images/k")
        try LibvirtSchema.validate(probe.xml, as: "domain")
        #expect(try DomainDefinition(xml: probe.xml) == probe)
        #expect(probe.os.kernel == "/var/lib/libvirt/images/k" && probe.os.machine == "pc")
    }

    /// lcm's value -> XML -> libvirt define -> dumpxml -> lcm's value: every field lcm owns comes back.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func libvirtKeepsEveryFieldLcmOwns() throws {
        let connection = try Connection(uri: "qemu:///system")
        let name = "lcmtest-def-\(UUID().uuidString.prefix(8).lowercased())"
        let sent = try Self.desktop(name: name)
        let domain = try connection.defineDomain(xml: sent.xml)
        defer { try? domain.undefine(removeNVRAM: true, removeTPMState: true) }
        let back = try DomainDefinition(xml: try domain.xmlDescription(flags: .inactive))
        #expect(Self.asSent(back, sent) == sent)
        // What libvirt resolved, read back typed: the machine alias, the ps2 devices it adds.
        #expect(back.os.machine?.hasPrefix("pc-q35-") == true, "\(back.os.machine ?? "none")")
        #expect(back.devices.interfaces.first?.filter?.parameters == [.init(name: "IP", value: "10.0.0.5")])
    }

    /// UEFI with Secure Boot resolved at start (libvirt 9.0): the loader and the NVRAM file read
    /// back typed from the live definition, the same path `DesktopDomain.nvramPath` gives.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func theFirmwareAndNVRAMLibvirtChoseAreReadBack() throws {
        let connection = try Connection(uri: "qemu:///system")
        let name = "lcmtest-nvram-\(UUID().uuidString.prefix(8).lowercased())"
        let disk = "/var/lib/libvirt/images/\(name).qcow2"
        let made = try ProgramRun.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", disk, "16M"])
        try #require(made.status == 0, "\(made.stderr)")
        defer { try? FileManager.default.removeItem(atPath: disk) }
        let desktop = DesktopDomain(name: name, vcpus: 1, memoryMiB: 256, domainType: .qemu, disks: [.init(path: disk)],
                                    network: nil, tpm: nil)
        let domain = try connection.defineDomain(xml: try desktop.xml())
        defer {
            if (try? domain.isActive) == true { try? domain.destroy() }
            try? domain.undefine(removeNVRAM: true, removeTPMState: true)
        }
        try domain.start()
        let live = try DomainDefinition(xml: try domain.xmlDescription())
        let loader = try #require(live.os.loader)
        #expect(loader.secure == true && loader.readonly == true && loader.path?.hasPrefix("/") == true, "\(loader)")
        let nvram = try #require(live.os.nvram)
        #expect(nvram.template?.contains(".ms.") == true, "Microsoft's keys: \(nvram)")
        #expect(try nvram.path == DesktopDomain.nvramPath(of: domain) && nvram.path.map { FileManager.default.fileExists(atPath: $0) } == true)
        #expect(live.features?.smm == true)
    }

    /// The definition libvirt gave back with what it adds by itself taken out, each for a reason
    /// named here; anything else that differs is a field lcm lost.
    static func asSent(_ back: DomainDefinition, _ sent: DomainDefinition) -> DomainDefinition {
        var back = back
        // q35 is an alias libvirt resolves to the newest versioned machine.
        if back.os.machine?.hasPrefix("pc-q35-") == true && sent.os.machine == "q35" { back.os.machine = "q35" }
        // Firmware features in libvirt's own order.
        back.os.firmwareFeatures = sent.os.firmwareFeatures.filter { back.os.firmwareFeatures.contains($0) }
            + back.os.firmwareFeatures.filter { !sent.os.firmwareFeatures.contains($0) }
        // migratable='on' is libvirt's default for these CPU modes, written out.
        if sent.cpu?.migratable == nil { back.cpu?.migratable = nil }
        // The ps2 mouse and keyboard every x86 machine has.
        back.devices.inputs.removeAll { $0.bus == "ps2" }
        // The serial port's model, filled in.
        for index in back.devices.serials.indices where sent.devices.serials.indices.contains(index) && sent.devices.serials[index].targetType == nil {
            back.devices.serials[index].targetType = nil
        }
        return back
    }
}
