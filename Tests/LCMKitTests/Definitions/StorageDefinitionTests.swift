import Foundation
@testable import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// Pools, volumes, secrets and snapshot documents as typed values: libvirt's schema accepts
/// what lcm writes, and the real daemon gives back every field lcm owns.
@Suite(.serialized)
struct StorageDefinitionTests {
    static let secret = "0f2a6c1e-6b1d-4b8e-9d7a-3c5e2f1a0b9c"

    @Test func everyDocumentLcmWritesIsValidAndReadsBackTheSame() throws {
        let pool = StoragePoolDefinition(name: "lcm", targetPath: "/var/lib/libvirt/images/lcm", mode: "0711")
        let volume = StorageVolumeDefinition(name: "d-os.qcow2", capacityBytes: 1 << 30, allocationBytes: 0, format: "qcow2", mode: "0600",
                                             backing: .init(path: "/var/lib/libvirt/images/lcm/golden & 1.qcow2", format: "qcow2"))
        let encrypted = StorageVolumeDefinition(name: "e.qcow2", capacityBytes: 1 << 20, format: "qcow2",
                                                encryption: DiskEncryption(secretUUID: Self.secret))
        let diskKey = SecretDefinition(uuid: Self.secret, description: "lcm disk key k1 of desktop <d&1>", usage: .volume(DesktopKey.secretUsageID("k1")))
        let tpmKey = SecretDefinition(uuid: Self.secret, description: "lcm vTPM key", usage: .vtpm(DesktopKey.tpmSecretUsageName("k1")))
        let snapshot = DomainSnapshotDefinition.diskOnly(name: "before-move", description: "lcm snapshot",
                                                         overlays: [("vda", "/var/lib/libvirt/images/lcm/d-os.snap1"),
                                                                    ("vdb", "/var/lib/libvirt/images/lcm/d-data.snap1")])
        try LibvirtSchema.validate(pool.xml, as: "storagepool")
        try LibvirtSchema.validate(volume.xml, as: "storagevol")
        try LibvirtSchema.validate(encrypted.xml, as: "storagevol")
        try LibvirtSchema.validate(diskKey.xml, as: "secret")
        try LibvirtSchema.validate(tpmKey.xml, as: "secret")
        try LibvirtSchema.validate(snapshot.xml, as: "domainsnapshot")
        #expect(try StoragePoolDefinition(xml: pool.xml) == pool)
        #expect(try StorageVolumeDefinition(xml: volume.xml) == volume)
        #expect(try StorageVolumeDefinition(xml: encrypted.xml) == encrypted)
        #expect(try SecretDefinition(xml: diskKey.xml) == diskKey)
        #expect(try SecretDefinition(xml: tpmKey.xml) == tpmKey)
        #expect(try DomainSnapshotDefinition(xml: snapshot.xml) == snapshot)
        #expect(snapshot.memory == "no" && snapshot.disks.allSatisfy { $0.snapshot == "external" && $0.driverType == "qcow2" })
    }

    /// A disk-only external snapshot taken for real: lcm's value -> XML -> libvirt creates the
    /// overlay -> the snapshot's XML -> lcm's value keeps every field lcm owns, libvirt's schema
    /// accepts what it gave back, and the domain now writes to the overlay.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func libvirtTakesTheSnapshotAndGivesBackItsFields() throws {
        let connection = try Connection(uri: "qemu:///system")
        let name = "lcmtest-snap-\(UUID().uuidString.prefix(8).lowercased())"
        let base = "/var/lib/libvirt/images/\(name).qcow2", overlay = "/var/lib/libvirt/images/\(name).snap1.qcow2"
        let made = try ProgramRun.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", base, "16M"])
        try #require(made.status == 0, "\(made.stderr)")
        defer { for file in [base, overlay] { try? FileManager.default.removeItem(atPath: file) } }
        let desktop = DesktopDomain(name: name, vcpus: 1, memoryMiB: 256, domainType: .qemu, disks: [.init(path: base)],
                                    network: nil, tpm: nil)
        let domain = try connection.defineDomain(xml: try desktop.xml())
        defer { try? domain.undefine(removeNVRAM: true, removeTPMState: true) }
        let target = try #require(try DomainDefinition(xml: try domain.xmlDescription(flags: .inactive)).devices.disks.first?.target?.device)

        let sent = DomainSnapshotDefinition.diskOnly(name: "before-move", description: "lcm snapshot & <test>",
                                                     overlays: [(target, overlay)])
        let snapshot = try domain.createSnapshot(xml: sent.xml, diskOnly: true)
        defer { try? snapshot.delete(metadataOnly: true) }
        let xml = try snapshot.xmlDescription()
        try LibvirtSchema.validate(xml, as: "domainsnapshot")
        let back = try DomainSnapshotDefinition(xml: xml)
        #expect(back.name == sent.name && back.description == sent.description && back.memory == "no", "\(back)")
        let disk = try #require(back.disks.first { $0.name == target }, "\(back.disks)")
        #expect(disk.snapshot == "external" && disk.driverType == "qcow2" && disk.source?.file == overlay, "\(disk)")
        #expect(try domain.lookupSnapshot(name: "before-move")?.name == "before-move")
        #expect(try domain.lookupSnapshot(name: "no-such") == nil)
        #expect(FileManager.default.fileExists(atPath: overlay))
        let now = try DomainDefinition(xml: try domain.xmlDescription(flags: .inactive))
        #expect(now.devices.disks.first?.source?.file == overlay, "\(String(describing: now.devices.disks.first?.source))")
    }

    /// A pool and a volume (qcow2 on a backing file, another LUKS-encrypted) through the daemon.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func libvirtKeepsThePoolAndVolumeFields() throws {
        let connection = try Connection(uri: "qemu:///system")
        let scratch = ScratchDirectory(prefix: "lcm-pooldef")
        let directory = scratch.file("pool").path
        // A transient pool over an existing directory reports the directory's own mode.
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o711])
        let sent = StoragePoolDefinition(name: "lcmtest-pool-\(UUID().uuidString.prefix(8).lowercased())",
                                         uuid: UUID().uuidString.lowercased(), targetPath: directory, mode: "0711")
        let pool = try connection.createTransientStoragePool(xml: sent.xml)
        defer { try? pool.destroy() }
        #expect(try StoragePoolDefinition(xml: try pool.xmlDescription()) == sent)

        let base = StorageVolumeDefinition(name: "base.img", capacityBytes: 1 << 20, format: "raw", mode: "0600")
        _ = try pool.createVolume(xml: base.xml)
        let overlay = StorageVolumeDefinition(name: "top.qcow2", capacityBytes: 1 << 20, allocationBytes: 0, format: "qcow2", mode: "0600",
                                              backing: .init(path: "\(directory)/base.img", format: "raw"))
        let made = try pool.createVolume(xml: overlay.xml)
        var back = try StorageVolumeDefinition(xml: try made.xmlDescription())
        #expect(back.path == "\(directory)/top.qcow2")
        // Where it is and how much is allocated are libvirt's answers, not lcm's fields.
        (back.path, back.allocationBytes) = (nil, 0)
        #expect(back == overlay)

        // An encrypted qcow2 (as lcm uploads them) is seen as LUKS.
        let file = "\(directory)/enc.qcow2"
        var created = false
        for _ in 0..<3 where !created {
            created = try ProgramRun.run("/usr/bin/qemu-img", [
                "create", "-q", "-f", "qcow2", "--object", "secret,id=s0,data=lcmtest", "-o",
                "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", file, "1M",
            ]).status == 0
        }
        try #require(created, "qemu-img could not make a LUKS qcow2")
        try pool.refresh()
        let found = try #require(try pool.lookupVolume(name: "enc.qcow2"))
        let encrypted = try StorageVolumeDefinition(xml: try found.xmlDescription())
        #expect(encrypted.format == "qcow2" && encrypted.encryption?.format == "luks", "\(encrypted)")
    }

    /// lcm's secrets (a disk key and a vTPM key) come back from the daemon as defined.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func libvirtKeepsTheSecretFields() throws {
        let connection = try Connection(uri: "qemu:///system")
        let tag = UUID().uuidString.prefix(8).lowercased()
        for usage in [SecretDefinition.Usage.volume(DesktopKey.secretUsageID("lcmtest-\(tag)")), .vtpm(DesktopKey.tpmSecretUsageName("lcmtest-\(tag)"))] {
            let sent = SecretDefinition(uuid: UUID().uuidString.lowercased(), description: "lcmtest key of <\(tag)> & co", usage: usage)
            let secret = try connection.defineSecret(xml: sent.xml)
            defer { try? secret.undefine() }
            #expect(try SecretDefinition(xml: try secret.xmlDescription()) == sent)
        }
    }

    /// What `procure check` reads from this host, typed: CPU, domain types, UEFI and TPM.
    @Test(.enabled(if: geteuid() == 0, "qemu:///system needs root"))
    func theHostsCapabilitiesAreRead() throws {
        let connection = try Connection(uri: "qemu:///system")
        let host = try HostCapabilities(xml: try connection.capabilitiesXML())
        #expect(host.cpuArch == "x86_64" && host.guestDomainTypes.contains("qemu"), "\(host)")
        let domain = try DomainCapabilities(xml: try connection.domainCapabilitiesXML(arch: "x86_64", machine: "q35", virtType: "qemu"))
        #expect(domain.os?.values(of: "firmware").contains("efi") == true && domain.offersSecureBoot)
        #expect(domain.tpm?.supported == true && domain.tpm?.values(of: "backendModel").contains("emulator") == true)
    }
}
