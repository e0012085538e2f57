import Foundation
@testable import LCMKit
import Testing

/// What a retirement plans to sanitize beyond the volumes lcm recorded, and what it names as
/// not sanitized.
@Suite struct RetirePlanTests {
    /// Writable disk sources and external snapshot files count; CD-ROMs and read-only disks do
    /// not; volume-type disks are given by pool and volume for the plan to match with its records.
    @Test func domainStorageListsTheDomainsWritableFilesAndItsSnapshots() throws {
        let domain = """
            <domain type='qemu'><name>d1</name><devices>
              <disk type='volume' device='disk'><source pool='lcm' volume='d1-os'/><target dev='vda'/></disk>
              <disk type='file' device='disk'><source file='/pool/d1-os.s2'/><target dev='vdb'/></disk>
              <disk type='file' device='disk'><source file='/pool/d1-data.qcow2'/><target dev='vdc'/></disk>
              <disk type='file' device='cdrom'><source file='/media/patches.iso'/><readonly/><target dev='sda'/></disk>
              <disk type='file' device='disk'><source file='/shared/drivers.img'/><readonly/><target dev='vdd'/></disk>
            </devices></domain>
            """
        let snapshots = [
            """
            <domainsnapshot><name>s1</name><memory snapshot='external' file='/var/lib/libvirt/qemu/snapshot/d1-s1.mem'/>
              <disks><disk name='vda' snapshot='external'><source file='/pool/d1-os.s1'/></disk><disk name='vdb' snapshot='no'/></disks>
            </domainsnapshot>
            """,
            """
            <domainsnapshot><name>s2</name><memory snapshot='no'/>
              <disks><disk name='vda' snapshot='external' type='file'><source file='/pool/d1-os.s2'/></disk>
              <disk name='vdc' snapshot='internal'/></disks>
            </domainsnapshot>
            """,
        ]
        let storage = try RetirePlan.domainStorage(domainXMLs: [domain], snapshotXMLs: snapshots)
        #expect(storage.files.map(\.path) == ["/pool/d1-os.s1", "/var/lib/libvirt/qemu/snapshot/d1-s1.mem", "/pool/d1-os.s2", "/pool/d1-data.qcow2"])
        #expect(storage.files.map(\.role) == ["snapshot", "snapshot-memory", "snapshot", "disk"])
        #expect(storage.volumes == ["lcm/d1-os"] && storage.elsewhere.isEmpty)
        #expect(try RetirePlan.domainStorage(domainXMLs: ["<domain><devices/></domain>"], snapshotXMLs: []) == .init())
    }

    /// Disks that are no file (block, network, a snapshot overlay on a block device), files in a
    /// backing chain, and disks only one of the two definitions has: all found, none dropped.
    @Test func nonFileDisksBackingFilesAndBothDefinitionsAreFound() throws {
        let inactive = """
            <domain type='qemu'><name>d2</name><devices>
              <disk type='file' device='disk'><source file='/pool/d2-os.qcow2'/>
                <backingStore type='file'><format type='qcow2'/><source file='/pool/golden.qcow2'/>
                  <backingStore type='file'><format type='qcow2'/><source file='/elsewhere/base.qcow2'/><backingStore/></backingStore>
                </backingStore><target dev='vda'/></disk>
              <disk type='block' device='disk'><source dev='/dev/sdz'/><target dev='vdb'/></disk>
              <disk type='block' device='cdrom'><source dev='/dev/sr0'/><readonly/><target dev='sdb'/></disk>
            </devices></domain>
            """
        let running = """
            <domain type='qemu' id='3'><name>d2</name><devices>
              <disk type='file' device='disk'><source file='/pool/d2-os.qcow2'/><target dev='vda'/></disk>
              <disk type='network' device='disk'><source protocol='nbd' name='export1'><host name='nas.example' port='10809'/></source><target dev='vdc'/></disk>
              <disk type='file' device='disk'><source file='/pool/d2-hot.qcow2'/>
                <backingStore type='block'><source dev='/dev/mapper/base'/></backingStore><target dev='vdd'/></disk>
            </devices></domain>
            """
        let snapshot = """
            <domainsnapshot><name>s9</name><disks>
              <disk name='vda' snapshot='external' type='block'><source dev='/dev/vg/d2-snap'/></disk>
            </disks></domainsnapshot>
            """
        let storage = try RetirePlan.domainStorage(domainXMLs: [inactive, running], snapshotXMLs: [snapshot])
        #expect(storage.files == [.init(path: "/pool/d2-os.qcow2", role: "disk"), .init(path: "/pool/golden.qcow2", role: "backing"),
                                  .init(path: "/elsewhere/base.qcow2", role: "backing"), .init(path: "/pool/d2-hot.qcow2", role: "disk")],
                "\(storage.files)")
        let named = storage.elsewhere.map(\.item)
        #expect(named == ["block device /dev/vg/d2-snap", "block device /dev/sdz", "network disk nbd:export1 on nas.example", "block device /dev/mapper/base"],
                "\(named)")
        #expect(storage.elsewhere.allSatisfy { $0.reason.contains("lcm") }, "each says why lcm did not sanitize it")
    }
}
