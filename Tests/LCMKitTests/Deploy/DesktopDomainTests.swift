import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// A deployed desktop's domain definition: the XML checked by libvirt's own schema
/// (virt-xml-validate) and parsed back, hostile text and names, and the whole life of a domain on
/// the real qemu:///system daemon (define, start under TCG, destroy, undefine with NVRAM and TPM).
@Suite(.serialized)
struct DesktopDomainTests {
    /// One way of putting a desktop together, for the parameterised XML test.
    struct Variant: Sendable, CustomTestStringConvertible {
        var label: String
        var domain: DesktopDomain
        var testDescription: String { label }
    }

    static let secretA = "0f2a6c1e-6b1d-4b8e-9d7a-3c5e2f1a0b9c"
    static let secretB = "7d9e1f20-3a4b-4c5d-8e6f-708192a3b4c5"

    static let variants: [Variant] = [
        Variant(label: "virtio, encrypted, TPM with secret, kvm, discard, default network", domain: DesktopDomain(
            name: "desk-a", title: "Ada Lovelace", vcpus: 4, memoryMiB: 4096, domainType: .kvm,
            disks: [DesktopDomain.Disk(path: "/var/lib/libvirt/images/lcm/a-os.qcow2", bus: .virtio,
                                       luksSecretUUID: secretA, discard: true)],
            network: DesktopDomain.Network(), tpm: DesktopDomain.TPM(encryptionSecretUUID: secretB))),
        Variant(label: "sata, plain, TPM without secret, qemu, no discard, bridge, e1000e, spice", domain: DesktopDomain(
            name: "desk_b-2", description: "no virtio drivers", vcpus: 1, memoryMiB: 2048, domainType: .qemu,
            disks: [DesktopDomain.Disk(path: "/srv/lcm/b.qcow2", bus: .sata, discard: false)],
            network: DesktopDomain.Network(source: .bridge("br0"), model: .e1000e, macAddress: "52:54:00:AB:cd:01"),
            tpm: DesktopDomain.TPM(), graphics: .spice)),
        Variant(label: "two buses, no TPM, no network, secure boot", domain: DesktopDomain(
            name: "C3", domainType: .qemu,
            disks: [DesktopDomain.Disk(path: "/var/lib/libvirt/images/lcm/c-os.qcow2", bus: .virtio, luksSecretUUID: secretA),
                    DesktopDomain.Disk(path: "/var/lib/libvirt/images/lcm/c-data.qcow2", bus: .sata, discard: false),
                    DesktopDomain.Disk(path: "/var/lib/libvirt/images/lcm/c-scratch.qcow2", bus: .virtio)],
            network: nil, tpm: nil, secureBoot: true)),
        Variant(label: "named network with virtio card, kvm, secure boot", domain: DesktopDomain(
            name: "x", domainType: .kvm,
            disks: [DesktopDomain.Disk(path: "/d/x.qcow2", target: "vdc")],
            network: DesktopDomain.Network(source: .network("lcm-office")), secureBoot: true)),
    ]

    // MARK: - XML

    @Test(arguments: variants)
    func xmlValidatesAndParsesBack(_ variant: Variant) throws {
        let desktop = variant.domain
        let xml = try desktop.xml()
        try Self.validate(xml)
        let document = try Self.parse(xml)
        func values(_ path: String) throws -> [String] { try Self.values(document, path) }

        #expect(try values("/domain/@type") == [desktop.domainType.rawValue])
        #expect(try values("/domain/name") == [desktop.name])
        #expect(try values("/domain/uuid") == [desktop.uuid.lowercased()])
        #expect(try values("/domain/title") == (desktop.title.map { [$0] } ?? []))
        #expect(try values("/domain/description") == (desktop.description.map { [$0] } ?? []))
        #expect(try values("/domain/vcpu") == [String(desktop.vcpus)])
        #expect(try values("/domain/memory") == [String(desktop.memoryMiB)])
        #expect(try values("/domain/memory/@unit") == ["MiB"])

        // Firmware chosen by libvirt, no path in the XML; secure boot as asked.
        #expect(try values("/domain/os/@firmware") == ["efi"])
        #expect(try values("/domain/os/type/@machine") == ["q35"])
        #expect(try values("/domain/os/loader").isEmpty && values("/domain/os/nvram").isEmpty)
        let secure = desktop.secureBoot ? "yes" : "no"
        #expect(try values("/domain/os/firmware/feature[@name='secure-boot']/@enabled") == [secure])
        #expect(try values("/domain/os/firmware/feature[@name='enrolled-keys']/@enabled") == [secure])
        #expect(try values("/domain/features/smm/@state") == (desktop.secureBoot ? ["on"] : []))
        #expect(try values("/domain/features/hyperv").count == (desktop.domainType == .kvm ? 1 : 0))

        // Disks: paths, buses, numbering per bus, LUKS secrets, discard, the first one boots.
        let disks = "/domain/devices/disk"
        #expect(try values("\(disks)/source/@file") == desktop.disks.map(\.path))
        #expect(try values("\(disks)/target/@bus") == desktop.disks.map(\.bus.rawValue))
        #expect(try values("\(disks)/driver/@type") == desktop.disks.map { _ in "qcow2" })
        #expect(try values("\(disks)/driver/@discard") == desktop.disks.filter(\.discard).map { _ in "unmap" })
        #expect(try values("\(disks)/source/encryption/secret/@uuid") == desktop.disks.compactMap(\.luksSecretUUID))
        #expect(try values("\(disks)/boot/@order") == ["1"])
        #expect(try values("\(disks)[1]/boot/@order") == ["1"])
        let targets = try values("\(disks)/target/@dev")
        #expect(Set(targets).count == targets.count)
        if variant.label.hasPrefix("two buses") { #expect(targets == ["vda", "sda", "vdb"]) }
        if variant.label.hasPrefix("named network") { #expect(targets == ["vdc"]) }

        // Network.
        switch desktop.network?.source {
        case .network(let name)?:
            #expect(try values("/domain/devices/interface/@type") == ["network"])
            #expect(try values("/domain/devices/interface/source/@network") == [name])
        case .bridge(let name)?:
            #expect(try values("/domain/devices/interface/@type") == ["bridge"])
            #expect(try values("/domain/devices/interface/source/@bridge") == [name])
        case nil:
            #expect(try values("/domain/devices/interface").isEmpty)
        }
        #expect(try values("/domain/devices/interface/model/@type") == (desktop.network.map { [$0.model.rawValue] } ?? []))
        #expect(try values("/domain/devices/interface/mac/@address")
                == (desktop.network?.macAddress.map { [$0.lowercased()] } ?? []))

        // TPM 2.0 (CRB), state encrypted when a secret is given.
        if let tpm = desktop.tpm {
            #expect(try values("/domain/devices/tpm/@model") == ["tpm-crb"])
            #expect(try values("/domain/devices/tpm/backend/@type") == ["emulator"])
            #expect(try values("/domain/devices/tpm/backend/@version") == ["2.0"])
            #expect(try values("/domain/devices/tpm/backend/encryption/@secret")
                    == (tpm.encryptionSecretUUID.map { [$0] } ?? []))
        } else {
            #expect(try values("/domain/devices/tpm").isEmpty)
        }

        // Guest agent, consoles on loopback only, crash kept, the usual paravirtual devices.
        #expect(try values("/domain/devices/channel/target[@type='virtio']/@name") == ["org.qemu.guest_agent.0"])
        #expect(try values("/domain/devices/serial/@type") == ["pty"])
        #expect(try values("/domain/devices/console/target/@type") == ["serial"])
        #expect(try values("/domain/devices/graphics/@type") == [desktop.graphics.rawValue])
        let listens = try values("/domain/devices/graphics/@listen") + values("/domain/devices/graphics/listen/@address")
        #expect(listens == ["127.0.0.1", "127.0.0.1"])
        #expect(try values("/domain/on_crash") == ["preserve"])
        #expect(try values("/domain/devices/panic/@model") == (desktop.domainType == .kvm ? ["isa", "hyperv"] : ["isa"]))
        #expect(try values("/domain/devices/memballoon/@model") == ["virtio"])
        #expect(try values("/domain/devices/rng/@model") == ["virtio"])
        #expect(try values("/domain/devices/hostdev").isEmpty)
    }

    @Test func hostileTitlesAndDescriptionsAreEscaped() throws {
        let long = String(repeating: "Ünïcødé & <long> 'text' \"here\" ", count: 700)
        let texts = [
            #"O'Brien "the boss" <admin> & co"#,
            "</title><devices><hostdev mode='subsystem'/></devices><title>",
            "]]> <!-- not a comment --> <![CDATA[ x ]]> &amp; &#x41; &lt;",
            "Zoë Ångström – 山田太郎 – محمد – 🧑‍💻 – e\u{301}",
            "  leading and trailing spaces  ",
            long,
        ]
        for text in texts {
            let desktop = DesktopDomain(name: "hostile", title: text, description: text + "\nsecond line\r\nthird\tcolumn",
                                        domainType: .qemu, disks: [DesktopDomain.Disk(path: "/d/h.qcow2")])
            let xml = try desktop.xml()
            try Self.validate(xml)
            let document = try Self.parse(xml)
            #expect(try Self.values(document, "/domain/title") == [text])
            #expect(try Self.values(document, "/domain/description") == [text + "\nsecond line\r\nthird\tcolumn"])
            #expect(try Self.values(document, "/domain/devices/hostdev").isEmpty)
        }

        // What XML cannot carry is replaced, never passed through: a title is one line, and
        // control characters become U+FFFD in a description.
        let controls = DesktopDomain(name: "controls", title: "first\nsecond\u{1}third",
                                     description: "bell\u{7} nul\u{0} esc\u{1B} \u{FFFE}",
                                     domainType: .qemu, disks: [DesktopDomain.Disk(path: "/d/c.qcow2")])
        let xml = try controls.xml()
        try Self.validate(xml)
        let document = try Self.parse(xml)
        #expect(try Self.values(document, "/domain/title") == ["first second third"])
        #expect(try Self.values(document, "/domain/description") == ["bell\u{FFFD} nul\u{FFFD} esc\u{FFFD} \u{FFFD}"])

        // Empty text leaves the element out (libvirt's schema wants a non-empty title).
        let empty = DesktopDomain(name: "empty", title: "", description: "", domainType: .qemu,
                                  disks: [DesktopDomain.Disk(path: "/d/e.qcow2")])
        let emptyXML = try empty.xml()
        try Self.validate(emptyXML)
        #expect(try Self.values(Self.parse(emptyXML), "/domain/title").isEmpty)
    }

    @Test func hostileDomainNamesAreRejectedWithAUsageError() throws {
        let hostile: [(name: String, says: String)] = [
            ("", "cannot be empty"),
            ("a/b", "'/' (a path separator)"),
            ("../etc", "'.'"),
            ("line\nbreak", "control character (U+000A)"),
            ("nul\u{0}byte", "control character (U+0000)"),
            ("esc\u{1B}[31m", "control character (U+001B)"),
            ("tab\there", "control character (U+0009)"),
            ("with space", "a space"),
            ("quote'd", "'''"),
            ("<x>", "'<'"),
            ("amp&", "'&'"),
            ("naïve", "non-ASCII character 'ï' (U+00EF)"),
            ("-rf", "must start with a letter or digit"),
            (".hidden", "'.'"),
            ("x.y_z-1", "'.'"),
            (String(repeating: "a", count: 64), "64 characters long; at most 63"),
            (String(repeating: "é", count: 200), "200 characters long"),
        ]
        for (name, says) in hostile {
            let error = try #require(throws: LCMError.self) { try NameRule.desktop.validate(name) }
            #expect(error.code == .usage && error.code.rawValue == 64)
            #expect(error.message.contains(says), "\(name.debugDescription): \(error.message)")
            #expect(error.message.contains("desktop name"))
            #expect(error.hint?.contains("ASCII letters, digits, '-' or '_'") == true)
            // The message is safe to print: no raw control characters, long names cut.
            #expect(!error.description.unicodeScalars.contains { $0.properties.generalCategory == .control })
            #expect(error.message.count < 200)
            // xml() refuses the same name before rendering anything.
            let desktop = DesktopDomain(name: name, domainType: .qemu, disks: [DesktopDomain.Disk(path: "/d/x.qcow2")])
            let viaXML = try #require(throws: LCMError.self) { try desktop.xml() }
            #expect(viaXML.code == .usage && viaXML.message == error.message)
        }
        for name in ["desk-jdoe-01", "A", "0", "x_y-z-1", String(repeating: "z", count: 63)] {
            try NameRule.desktop.validate(name)
        }
    }

    @Test func otherBadFieldsAreUsageErrors() throws {
        func usageError(_ change: (inout DesktopDomain) -> Void) throws -> String {
            var desktop = DesktopDomain(name: "ok", domainType: .qemu, disks: [DesktopDomain.Disk(path: "/d/ok.qcow2")])
            change(&desktop)
            let error = try #require(throws: LCMError.self) { try desktop.xml() }
            #expect(error.code == .usage)
            return error.message
        }
        #expect(try usageError { $0.uuid = "not-a-uuid" }.contains("not a UUID"))
        #expect(try usageError { $0.disks = [] }.contains("at least one disk"))
        #expect(try usageError { $0.vcpus = 0 }.contains("virtual CPUs"))
        #expect(try usageError { $0.memoryMiB = 1 }.contains("memory"))
        #expect(try usageError { $0.disks[0].path = "relative.qcow2" }.contains("absolute path"))
        #expect(try usageError { $0.disks[0].path = "/d/x\n.qcow2" }.contains("control characters"))
        #expect(try usageError { $0.disks[0].luksSecretUUID = "' or '1'='1" }.contains("LUKS secret"))
        #expect(try usageError { $0.tpm = .init(encryptionSecretUUID: "x") }.contains("vTPM secret"))
        #expect(try usageError { $0.disks[0].target = "sda" }.contains("does not fit bus virtio"))
        #expect(try usageError {
            $0.disks = [DesktopDomain.Disk(path: "/d/1.qcow2", target: "vdb"), DesktopDomain.Disk(path: "/d/2.qcow2")]
            $0.disks.append(DesktopDomain.Disk(path: "/d/3.qcow2"))
        }.contains("two disks use the guest device name vdb"))
        #expect(try usageError { $0.network = .init(source: .bridge("a-very-long-bridge0")) }.contains("1 to 15 characters"))
        #expect(try usageError { $0.network = .init(source: .network("x/y")) }.contains("'/'"))
        #expect(try usageError { $0.network = .init(source: .network("")) }.contains("network name"))
        #expect(try usageError { $0.network = .init(macAddress: "01:00:5e:00:00:01") }.contains("unicast"))
        #expect(try usageError { $0.network = .init(macAddress: "52:54:00:zz:00:01") }.contains("MAC address"))

        let auto = try #require(throws: LCMError.self) { try DesktopDomain.DomainType(.auto) }
        #expect(auto.code == .usage && auto.hint?.contains("lcm doctor") == true)
        #expect(try DesktopDomain.DomainType(.kvm) == .kvm)
        #expect(try DesktopDomain.DomainType(.tcg) == .qemu)
        #expect(DesktopDomain.driveLetters(0) == "a" && DesktopDomain.driveLetters(25) == "z"
                && DesktopDomain.driveLetters(26) == "aa")
    }

    @Test func hardwareFollowsTheImagesDrivers() {
        var drivers = VirtioDriverState()
        #expect(DesktopDomain.hardware(for: drivers) == (.sata, .e1000e))
        drivers.storageDrivers = ["viostor"]
        #expect(DesktopDomain.hardware(for: drivers) == (.virtio, .e1000e))
        drivers.networkDrivers = ["netkvm"]
        #expect(DesktopDomain.hardware(for: drivers) == (.virtio, .virtio))
    }

    @Test func encryptedVolumeDiskIsTheSameElement() throws {
        let volume = EncryptedVolume(uri: "qemu:///system", pool: "lcm", name: "v.qcow2", path: "/var/lib/libvirt/images/lcm/v.qcow2",
                                     keyID: "k", secretUUID: Self.secretA, virtualSize: 1 << 30, backingPath: nil)
        let element = try volume.domainDiskXML(target: "sda", bus: .sata)
        #expect(element == (try DesktopDomain.diskXML(volume.desktopDisk(bus: .sata, discard: false), target: "sda")))
        #expect(element.contains("uuid='\(Self.secretA)'") && element.contains("bus='sata'") && !element.contains("discard"))
        #expect(volume.desktopDisk().discard && volume.desktopDisk().luksSecretUUID == Self.secretA)
    }

    @Test func nvramPathIsReadFromDomainXML() throws {
        let xml = """
            <domain><os firmware='efi'><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
            <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/d&amp;x_VARS.fd</nvram></os></domain>
            """
        #expect(try DesktopDomain.nvramPath(inDomainXML: xml) == "/var/lib/libvirt/qemu/nvram/d&x_VARS.fd")
        #expect(try DesktopDomain.nvramPath(inDomainXML: "<domain><os firmware='efi'/></domain>") == nil)
        #expect(try DesktopDomain.nvramPath(inDomainXML: "<domain><os><nvram template='/t'/></os></domain>") == nil)
    }

    // MARK: - libvirt

    /// The mock driver in addition to (never instead of) the real daemon: it parses the whole
    /// definition with libvirt's own parser and keeps the fields.
    @Test func mockDriverAcceptsTheDefinition() throws {
        let connection = try Connection(uri: "test:///default")
        let desktop = DesktopDomain(name: "lcmtest-mock-\(UInt32.random(in: 0...UInt32.max))", title: "O'Brien <&>",
                                    domainType: .qemu, disks: [DesktopDomain.Disk(path: "/d/m.qcow2", luksSecretUUID: Self.secretA)],
                                    tpm: DesktopDomain.TPM(encryptionSecretUUID: Self.secretB))
        let domain = try connection.defineDomain(xml: try desktop.xml())
        defer { try? domain.undefine(removeNVRAM: false, removeTPMState: false) }
        #expect(try domain.uuidString == desktop.uuid)
        let back = try Self.parse(try domain.xmlDescription(flags: .inactive))
        #expect(try Self.values(back, "/domain/title") == ["O'Brien <&>"])
        #expect(try Self.values(back, "/domain/on_crash") == ["preserve"])
    }

    /// The real daemon: a desktop with an encrypted boot disk, a plain SATA data disk, a network
    /// card on its own isolated network and an encrypted vTPM is defined, reaches running under
    /// TCG (OVMF waits in its boot menu: there is no OS), is destroyed and undefined with its NVRAM
    /// and TPM state; the vTPM secret goes with the key.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system secrets and volumes need root"))
    func desktopRunsOnTheRealDaemonAndLeavesNothingBehind() throws {
        let scratch = ScratchDirectory(prefix: "lcm-domain")
        let inventory = try DiskTestTools.inventory(scratch)
        let device = try Connection(uri: "qemu:///system")
        let tag = "lcmtest-dom-\(UUID().uuidString.prefix(8).lowercased())"
        let key = try DesktopKey.create(ownerKind: "desktop", ownerID: tag, inventory: inventory, device: device)
        let pool = try DeviceStoragePool.ensure(on: device).pool
        var volumes: [String] = []
        var networkName: String?
        // Files libvirt should remove itself; removed here too if a failure left them behind.
        var stateFiles: [String] = []
        defer {
            Self.removeDomain(named: tag, on: device)
            for path in stateFiles { try? FileManager.default.removeItem(atPath: path) }
            for name in volumes { try? pool.lookupVolume(name: name)?.delete() }
            if let networkName { _ = try? ProgramRun.run("/usr/bin/virsh", ["-c", "qemu:///system", "net-destroy", networkName]) }
            _ = try? DesktopKey.destroyAll(keyID: key.id, inventory: inventory)
        }

        // The vTPM secret: private, persistent, usage vtpm, registered, idempotent.
        let tpmSecret = try key.installTPMSecret(on: device, inventory: inventory)
        #expect(try key.installTPMSecret(on: device, inventory: inventory) == tpmSecret)
        let secret = try #require(try device.lookupSecret(usageType: .vtpm, usageID: DesktopKey.tpmSecretUsageName(key.id)))
        #expect(try secret.uuidString == tpmSecret)
        let secretXML = try secret.xmlDescription()
        #expect(secretXML.contains("private='yes'") && secretXML.contains("ephemeral='no'") && secretXML.contains("type='vtpm'"))
        #expect(throws: LibvirtError.self) { try secret.value() }
        let copies = try DesktopKey.copies(keyID: key.id, inventory: inventory)
        #expect(copies.contains { $0.location == .libvirtSecret && $0.detail == tpmSecret })
        #expect(copies.contains { $0.location == .libvirtSecretFile && $0.detail == "/etc/libvirt/secrets/\(tpmSecret).base64" })

        // Disks: an encrypted boot volume and a plain qcow2 data volume that libvirt makes itself.
        let osVolume = try DeviceVolumes.createEncrypted(name: "\(tag)-os.qcow2", on: device, virtualSize: 64 << 20,
                                                         key: key, inventory: inventory)
        volumes.append(osVolume.name)
        let dataName = "\(tag)-data.qcow2"
        let data = try pool.createVolume(xml: """
            <volume><name>\(dataName)</name><capacity unit='MiB'>16</capacity>
            <target><format type='qcow2'/><permissions><mode>0600</mode></permissions></target></volume>
            """)
        volumes.append(dataName)

        // A network of its own (isolated: no forwarding, no DHCP), so the shared "default" is left alone.
        let network = "\(tag)-net"
        let bridge = "lcmt\(tag.suffix(8))"
        let networkXML = scratch.file("network.xml")
        try "<network><name>\(network)</name><bridge name='\(bridge)'/></network>".write(to: networkXML, atomically: true, encoding: .utf8)
        let created = try ProgramRun.run("/usr/bin/virsh", ["-c", "qemu:///system", "net-create", networkXML.path])
        try #require(created.status == 0, "virsh net-create: \(created.stderr)")
        networkName = network

        let hostile = "José \"Pepe\" O'Brien <ops> & Ünïcødé 🧑‍💻"
        let accelerator = Accelerator(rawValue: LCMRunner.testAccelerator) ?? .tcg
        let desktop = DesktopDomain(
            name: tag, title: hostile, description: hostile + "\nsecond line", vcpus: 1, memoryMiB: 256,
            domainType: try DesktopDomain.DomainType(accelerator),
            disks: [osVolume.desktopDisk(bus: .virtio), DesktopDomain.Disk(path: try data.path, bus: .sata, discard: false)],
            network: DesktopDomain.Network(source: .network(network), model: .e1000e),
            tpm: DesktopDomain.TPM(encryptionSecretUUID: tpmSecret))
        let xml = try desktop.xml()
        try Self.validate(xml)
        let domain = try device.defineDomain(xml: xml)
        #expect(try domain.uuidString == desktop.uuid)

        // libvirt keeps the hostile text exactly.
        let defined = try Self.parse(try domain.xmlDescription(flags: .inactive))
        #expect(try Self.values(defined, "/domain/title") == [hostile])
        #expect(try Self.values(defined, "/domain/description") == [hostile + "\nsecond line"])
        #expect(try Self.values(defined, "/domain/os/@firmware") == ["efi"])
        let nvramAtDefine = try DesktopDomain.nvramPath(of: domain)

        let start = ContinuousClock.now
        try domain.start()
        // Running, and still running a few seconds later (swtpm, firmware and devices came up).
        for _ in 0..<6 {
            guard case .running = try domain.state() else {
                Issue.record("the domain stopped: \(try domain.state())")
                return
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        print("desktop-domain: defined, started and running for 3 s under \(desktop.domainType.rawValue) in \(ContinuousClock.now - start)")

        let nvram = try #require(try DesktopDomain.nvramPath(of: domain), "libvirt chose no NVRAM file")
        if let nvramAtDefine { #expect(nvramAtDefine == nvram) }
        #expect(FileManager.default.fileExists(atPath: nvram))
        let swtpmState = "/var/lib/libvirt/swtpm/\(desktop.uuid)"
        stateFiles = [nvram, swtpmState]
        #expect(FileManager.default.fileExists(atPath: swtpmState))
        let live = try Self.parse(try domain.xmlDescription())
        #expect(try Self.values(live, "/domain/devices/tpm/backend/encryption/@secret") == [tpmSecret])
        #expect(try Self.values(live, "/domain/devices/graphics/@listen") == ["127.0.0.1"])
        #expect(try Self.values(live, "/domain/devices/disk/target/@dev") == ["vda", "sda"])
        #expect(try Self.values(live, "/domain/devices/interface/source/@network") == [network])

        // swtpm was handed the key through a file descriptor; the passphrase is in no command line.
        let swtpm = DiskTestTools.processes(mentioning: "swtpm/\(desktop.uuid)")
        #expect(swtpm.contains { $0.command.contains("--key pwdfd=") }, "\(swtpm.map(\.command))")
        let passphrase = try DesktopKey.passphrase(keyID: key.id, inventory: inventory)
        let text = passphrase.withBytes { String(decoding: $0, as: UTF8.self) }
        #expect(DiskTestTools.processes(mentioning: text).isEmpty)

        try domain.destroy()
        guard case .shutOff = try domain.state() else {
            Issue.record("expected shut off after destroy, got \(try domain.state())")
            return
        }
        try domain.undefine(removeNVRAM: true, removeTPMState: true)
        #expect(try device.lookupDomain(name: tag) == nil)
        #expect(!FileManager.default.fileExists(atPath: nvram), "NVRAM left behind: \(nvram)")
        #expect(!FileManager.default.fileExists(atPath: swtpmState), "TPM state left behind: \(swtpmState)")

        // The vTPM secret goes with the key, and libvirt no longer finds it.
        let report = try DesktopKey.destroyAll(keyID: key.id, inventory: inventory)
        #expect(report.complete, "\(report.items.map { "\($0.location) \($0.detail): \($0.outcome) \($0.how)" })")
        #expect(try device.lookupSecret(uuid: tpmSecret) == nil)
        #expect(!FileManager.default.fileExists(atPath: "/etc/libvirt/secrets/\(tpmSecret).base64"))
    }

    /// libvirt accepts the KVM flavour (Hyper-V enlightenments, host CPU, Hyper-V crash MSRs) and
    /// secure boot; defined only, since KVM guests hang on this kind of machine.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func kvmAndSecureBootDefinitionsAreAcceptedByTheRealDaemon() throws {
        let device = try Connection(uri: "qemu:///system")
        for (type, secure) in [(DesktopDomain.DomainType.kvm, true), (.kvm, false), (.qemu, true)] {
            let name = "lcmtest-def-\(UUID().uuidString.prefix(8).lowercased())"
            defer { Self.removeDomain(named: name, on: device) }
            let desktop = DesktopDomain(name: name, domainType: type, disks: [DesktopDomain.Disk(path: "/nonexistent/\(name).qcow2")],
                                        network: nil, secureBoot: secure)
            let domain = try device.defineDomain(xml: try desktop.xml())
            let back = try Self.parse(try domain.xmlDescription(flags: .inactive))
            #expect(try Self.values(back, "/domain/@type") == [type.rawValue])
            #expect(try Self.values(back, "/domain/os/firmware/feature[@name='secure-boot']/@enabled") == [secure ? "yes" : "no"])
            try domain.undefine(removeNVRAM: true, removeTPMState: true)
        }
    }

    /// Deploy's and `procure check`'s one rule for "this device offers Secure Boot", on domain
    /// capabilities as libvirt 9.0 writes them: a Secure Boot loader and EFI firmware are both needed.
    @Test func secureBootIsOfferedOnlyWithEFIFirmwareAndASecureLoader() {
        func capabilities(firmware: [String], secure: [String]) -> String {
            """
            <domainCapabilities><path>/usr/bin/qemu-system-x86_64</path><domain>qemu</domain><machine>pc-q35-7.2</machine>
              <os supported='yes'>
                <enum name='firmware'>\(firmware.map { "<value>\($0)</value>" }.joined())</enum>
                <loader supported='yes'>
                  <value>/usr/share/OVMF/OVMF_CODE_4M.fd</value>
                  <enum name='type'><value>rom</value><value>pflash</value></enum>
                  <enum name='secure'>\(secure.map { "<value>\($0)</value>" }.joined())</enum>
                </loader>
              </os>
            </domainCapabilities>
            """
        }
        #expect(DeviceCheck.offersSecureBoot(domainCapabilities: capabilities(firmware: ["efi"], secure: ["yes", "no"])))
        #expect(!DeviceCheck.offersSecureBoot(domainCapabilities: capabilities(firmware: ["efi"], secure: ["no"])))
        #expect(!DeviceCheck.offersSecureBoot(domainCapabilities: capabilities(firmware: ["efi"], secure: [])))
        #expect(!DeviceCheck.offersSecureBoot(domainCapabilities: capabilities(firmware: [], secure: ["yes", "no"])))
        #expect(!DeviceCheck.offersSecureBoot(domainCapabilities: "<domainCapabilities><os supported='no'/></domainCapabilities>"))
        #expect(!DeviceCheck.offersSecureBoot(domainCapabilities: ""))

        // What deploy says then: the problem, and the two ways out (the opt-out named).
        let refusal = DeployHostCheck.secureBootUnavailable(uri: "qemu+ssh://pc-17/system")
        #expect(refusal.code == .conflict)
        #expect(refusal.message.contains("qemu+ssh://pc-17/system") && refusal.message.contains("Secure Boot"), "\(refusal.message)")
        #expect(refusal.hint?.contains("--no-secure-boot") == true, "\(refusal.hint ?? "no hint")")
    }

    /// This machine's daemon offers it (Debian's ovmf), so the real answer is yes.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func theRealDaemonOffersSecureBoot() throws {
        let device = try Connection(uri: "qemu:///system")
        let capabilities = try device.domainCapabilitiesXML(arch: "x86_64", machine: "q35", virtType: "qemu")
        #expect(DeviceCheck.offersSecureBoot(domainCapabilities: capabilities), "\(capabilities)")
        // And the host check passes it, the same call deploy makes.
        #expect(throws: Never.self) { try DeployHostCheck.checkSecureBoot(on: device, uri: "qemu:///system", domainType: "qemu") }
    }

    /// Settings stored before Secure Boot was recorded belong to desktops defined without it: they
    /// read as off, and a rerun asking for it (the default now) is told so instead of changing it.
    @Test func settingsStoredBeforeSecureBootReadAsOff() throws {
        let json = """
            {"allowUngeneralized":false,"architecture":"x86_64","computerName":"PC-OLD","dataDiskBytes":1073741824,
             "deviceTag":"DEV-1","discard":true,"domainType":"qemu","encrypted":true,"generalized":true,
             "imagePath":"/var/lib/lcm/images/gold.qcow2","imageReference":"gold@1","imageSHA256":"00","imageVersionID":1,
             "memoryBytes":4294967296,"network":"default","networkModel":"virtio","osDiskBytes":1073741824,"owner":"lcm",
             "start":true,"storageBus":"virtio","timeZone":"UTC","uri":"qemu:///system","vcpus":2}
            """
        let old = try JSONDecoder().decode(DesktopSettings.self, from: Data(json.utf8))
        #expect(old.secureBoot == nil && !old.usesSecureBoot)
        var asked = old
        asked.secureBoot = true
        #expect(old.askedDifferently(from: asked) == ["Secure Boot: off -> on"])
        asked.secureBoot = false
        #expect(old.askedDifferently(from: asked).isEmpty)
        let recorded = String(decoding: try JSONEncoder().encode(asked), as: UTF8.self)
        #expect(recorded.contains("\"secureBoot\":false"), "the opt-out is written down: \(recorded)")
    }

    /// Proof that the default definition's Secure Boot is enforced, not just named: under the
    /// firmware libvirt picks for it, an unsigned EFI program (Debian's shim as built, before
    /// Microsoft signed it) is refused ("Access Denied"), where the signed one boots the stand-in
    /// (DeployCommandTests). Only the firmware runs: about 15 s under TCG.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func secureBootFirmwareRefusesAnUnsignedBootProgram() throws {
        let unsigned = "/usr/lib/shim/shimx64.efi"
        try #require(FileManager.default.fileExists(atPath: unsigned), "\(unsigned) is missing: run scripts/setup (shim-signed)")
        let scratch = ScratchDirectory(prefix: "lcm-unsigned")
        let esp = scratch.file("esp.raw").path, raw = scratch.file("disk.raw").path
        for (tool, arguments) in [("/usr/sbin/mkfs.vfat", ["-C", esp, String(34 * 1024)]),
                                  ("/usr/bin/mmd", ["-i", esp, "::/EFI", "::/EFI/BOOT"]),
                                  ("/usr/bin/mcopy", ["-i", esp, unsigned, "::/EFI/BOOT/BOOTX64.EFI"]),
                                  ("/usr/bin/truncate", ["-s", "40M", raw]),
                                  ("/usr/sbin/sgdisk", ["-o", "-n", "1:2048:+34M", "-t", "1:ef00", raw]),
                                  ("/usr/bin/dd", ["if=\(esp)", "of=\(raw)", "bs=1M", "seek=1", "conv=notrunc", "status=none"])] {
            let run = try ProgramRun.run(tool, arguments)
            try #require(run.status == 0, "\(tool): \(run.stderr)")
        }
        let device = try Connection(uri: "qemu:///system")
        let name = "lcmtest-unsigned-\(UUID().uuidString.prefix(8).lowercased())"
        // Where qemu (another user) can read it, as the pool's volumes are.
        let disk = "/var/lib/libvirt/images/\(name).qcow2"
        defer {
            Self.removeDomain(named: name, on: device)
            try? FileManager.default.removeItem(atPath: disk)
        }
        let converted = try ProgramRun.run("/usr/bin/qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, disk])
        try #require(converted.status == 0, "\(converted.stderr)")

        let accelerator = Accelerator(rawValue: LCMRunner.testAccelerator) ?? .tcg
        let desktop = DesktopDomain(name: name, vcpus: 1, memoryMiB: 512, domainType: try DesktopDomain.DomainType(accelerator),
                                    disks: [DesktopDomain.Disk(path: disk)], network: nil, tpm: nil)
        #expect(desktop.secureBoot, "Secure Boot is the default")
        // The definition as deploy makes it, with the serial console going to a file to be read.
        let console = scratch.file("console.log").path
        let xml = try desktop.xml()
            .replacingOccurrences(of: "<serial type='pty'><target port='0'/></serial>",
                                  with: "<serial type='file'><source path='\(console)'/><target port='0'/></serial>")
            .replacingOccurrences(of: "<console type='pty'><target type='serial' port='0'/></console>", with: "")
        try #require(xml.contains(console))
        let domain = try device.defineDomain(xml: xml)
        try domain.start()
        let live = try Self.parse(try domain.xmlDescription())
        #expect(try Self.values(live, "/domain/os/loader/@secure") == ["yes"])
        #expect(try Self.values(live, "/domain/os/nvram/@template").first?.contains(".ms.") == true, "not Microsoft's keys")

        var text = ""
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            text = (try? String(contentsOfFile: console, encoding: .isoLatin1)) ?? ""
            if text.contains("Access Denied") || text.contains("Linux version") { break }
            Thread.sleep(forTimeInterval: 1)
        }
        #expect(text.contains("failed to load") && text.contains("Access Denied"), "console:\n\(text.suffix(2000))")
        #expect(!text.contains("Linux version"))
    }

    // MARK: - Helpers

    /// libvirt's own schema check, the real tool (libvirt-clients).
    static func validate(_ xml: String) throws {
        let scratch = ScratchDirectory(prefix: "lcm-domxml")
        let file = scratch.file("domain.xml")
        try xml.write(to: file, atomically: true, encoding: .utf8)
        let run = try ProgramRun.run("/usr/bin/virt-xml-validate", [file.path, "domain"])
        #expect(run.status == 0, "virt-xml-validate: \(run.stderr)\n\(xml)")
    }

    static func parse(_ xml: String) throws -> XMLDocument {
        try XMLDocument(xmlString: xml, options: [.nodePreserveWhitespace])
    }

    static func values(_ document: XMLDocument, _ path: String) throws -> [String] {
        try document.nodes(forXPath: path).map { $0.stringValue ?? "" }
    }

    static func removeDomain(named name: String, on connection: Connection) {
        guard let domain = try? connection.lookupDomain(name: name) else { return }
        if (try? domain.isActive) == true { try? domain.destroy() }
        try? domain.undefine(removeNVRAM: true, removeTPMState: true)
    }
}
