import Foundation
@testable import LCMKit
import Testing

/// What a retirement plans to sanitize beyond the volumes lcm recorded.
@Suite struct RetirePlanTests {
    /// Writable disk sources and external snapshot files count; CD-ROMs, read-only disks and
    /// volume-type disks (recorded by lcm) do not.
    @Test func unrecordedFilesAreTheDomainsWritableFilesAndItsSnapshots() throws {
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
        let files = try RetirePlan.unrecordedFiles(domainXML: domain, snapshotXMLs: snapshots)
        #expect(files.map(\.path) == ["/pool/d1-os.s1", "/var/lib/libvirt/qemu/snapshot/d1-s1.mem", "/pool/d1-os.s2", "/pool/d1-data.qcow2"])
        #expect(files.map(\.role) == ["snapshot", "snapshot-memory", "snapshot", "disk"])
        #expect(try RetirePlan.unrecordedFiles(domainXML: "<domain><devices/></domain>", snapshotXMLs: []).isEmpty)
    }
}
