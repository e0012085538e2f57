import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// The pure parts of Images/: decisions that need no appliance.
struct ImageUnitTests {
    @Test func windows11IsRecognizedFromTheBuildNotTheProductName() {
        #expect(WindowsInspection.osName(productName: "Windows 10 Pro", installationType: "Client", majorVersion: 10, buildNumber: 22631) == "Windows 11")
        #expect(WindowsInspection.osName(productName: "Windows 10 Pro", installationType: "Client", majorVersion: 10, buildNumber: 19045) == "Windows 10")
        #expect(WindowsInspection.osName(productName: "Windows Server 2025 Standard", installationType: "Server", majorVersion: 10, buildNumber: 26100) == "Windows Server 2025 Standard")
        #expect(WindowsInspection.osName(productName: "Windows 7 Professional", installationType: "Client", majorVersion: 6, buildNumber: 7601) == "Windows 7 Professional")
    }

    @Test func generalizedOnlyAfterSysprepGeneralize() {
        var state = GeneralizationState()
        for (value, expected) in [("IMAGE_STATE_COMPLETE", false), ("IMAGE_STATE_UNDEPLOYABLE", false),
                                  ("IMAGE_STATE_SPECIALIZE_RESEAL_TO_OOBE", false),
                                  ("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE", true), ("IMAGE_STATE_GENERALIZE_RESEAL_TO_AUDIT", true)] {
            state.imageState = value
            #expect(state.generalized == expected, "\(value)")
        }
    }

    @Test func knowledgeBaseNumbersComeFromPackageNamesOrCabinets() {
        #expect(WindowsInspector.knowledgeBaseNumber(in: "Package_for_KB5031455~31bf3856ad364e35~amd64~~22621.2428.1.7") == "KB5031455")
        #expect(WindowsInspector.knowledgeBaseNumber(in: "\\\\?\\C:\\Windows\\SoftwareDistribution\\Download\\Windows11.0-kb5040442-x64.cab") == "KB5040442")
        #expect(WindowsInspector.knowledgeBaseNumber(in: "Package_for_RollupFix~31bf3856ad364e35~amd64~~22621.3880.1.6") == nil)
    }

    @Test func peMachineTypeGivesTheArchitecture() {
        func pe(machine: UInt16) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 0x100)
            bytes[0] = 0x4D; bytes[1] = 0x5A; bytes[0x3C] = 0x80
            bytes[0x80...0x83] = [0x50, 0x45, 0, 0]
            bytes[0x84] = UInt8(machine & 0xFF); bytes[0x85] = UInt8(machine >> 8)
            return bytes
        }
        #expect(PEHeader.architecture(of: pe(machine: 0x8664)) == "x86_64")
        #expect(PEHeader.architecture(of: pe(machine: 0x014C)) == "i386")
        #expect(PEHeader.architecture(of: pe(machine: 0x1234)) == nil)
        #expect(PEHeader.architecture(of: Array("not a PE file at all, just text that is long enough to parse".utf8)) == nil)
    }

    /// The partition table decoder against the bytes the test-disk builder writes (its own code,
    /// checked against parted and libguestfs inspection in LCMTestSupportTests).
    @Test(arguments: [WindowsDiskSpec.Partitioning.gpt, .mbr])
    func partitionTableDecodesWhatWindowsSetupWrites(_ partitioning: WindowsDiskSpec.Partitioning) throws {
        let layout = WindowsDiskSpec { $0.partitioning = partitioning }.layout
        var head = [UInt8](repeating: 0, count: 34 * 512)
        for write in layout.tableWrites where write.offset < head.count {
            head.replaceSubrange(Int(write.offset)..<Int(write.offset) + write.bytes.count, with: write.bytes)
        }
        let table = try #require(PartitionTable.decode(head))
        #expect(table.kind == (partitioning == .gpt ? .gpt : .mbr))
        #expect(table.entries.map(\.number) == layout.partitions.map(\.number))
        #expect(table.entries.map(\.startBytes) == layout.partitions.map { UInt64($0.startOffset) })
        #expect(table.entries.map(\.sizeBytes) == layout.partitions.map { UInt64($0.size) })
        let keys = table.mountedDeviceKeys(device: "/dev/sdb")
        #expect(keys["/dev/sdb\(layout.windowsPartition.number)"] == layout.mountedDevicesValue)
        #expect(table.entries.filter(\.isMicrosoftReserved).map(\.number) == layout.partition(.microsoftReserved).map { [$0.number] } ?? [])
        // Not a partition table: no boot signature.
        #expect(PartitionTable.decode([UInt8](repeating: 0, count: 34 * 512)) == nil)
    }

    @Test func answerFileSecretsAreNamedNotCopied() {
        let xml = """
            <unattend><settings pass="oobeSystem"><component><UserAccounts><AdministratorPassword><Value>S3cret!</Value>
            <PlainText>true</PlainText></AdministratorPassword></UserAccounts></component></settings>
            <settings pass="specialize"><component><ProductKey>AAAAA-BBBBB-CCCCC-DDDDD-EEEEE</ProductKey></component></settings></unattend>
            """
        let kinds = AnswerFileScanner.secrets(in: xml)
        #expect(kinds.contains("password") && kinds.contains("product key"))
        #expect(!kinds.joined().contains("S3cret"))
        #expect(AnswerFileScanner.secrets(in: "<unattend><settings pass=\"specialize\"><ComputerName>*</ComputerName></settings></unattend>").isEmpty)
    }

    @Test func driverFoldersFollowTheWindowsVersion() {
        func inspection(_ major: Int, _ minor: Int, _ build: Int, _ type: String = "Client", arch: String = "x86_64") -> WindowsInspection {
            var i = WindowsInspection()
            i.majorVersion = major; i.minorVersion = minor; i.buildNumber = build; i.installationType = type; i.architecture = arch
            return i
        }
        #expect(VirtioDriverSource.osFolders(for: inspection(10, 0, 22631)) == ["w11", "w10"])
        #expect(VirtioDriverSource.osFolders(for: inspection(10, 0, 19045)) == ["w10"])
        #expect(VirtioDriverSource.osFolders(for: inspection(6, 3, 9600)) == ["w8.1", "w8"])
        #expect(VirtioDriverSource.osFolders(for: inspection(6, 1, 7601)) == ["w7"])
        #expect(VirtioDriverSource.osFolders(for: inspection(10, 0, 20348, "Server")) == ["2k22", "2k19"])
        #expect(VirtioDriverSource.archFolder(for: inspection(6, 1, 7601, arch: "i386")) == "x86")
        let inf = "%A% = x, PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00\r\n%A% = x, PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01\r\n%B% = y, PCI\\VEN_1AF4&DEV_1001\r\n"
        #expect(VirtioDriverSource.pciIDs(inInf: inf) == ["VEN_1AF4&DEV_1001", "VEN_1AF4&DEV_1042"])
    }

    @Test func storedInspectionsFromBeforeAFieldExistedStillDecode() throws {
        var inspection = WindowsInspection()
        inspection.lcmQueue.pendingItems = 2
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(inspection)) as! [String: Any]
        var queue = json["lcmQueue"] as! [String: Any]
        queue.removeValue(forKey: "pendingItemNames")
        json["lcmQueue"] = queue
        let decoded = try JSONDecoder().decode(WindowsInspection.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(decoded.lcmQueue.pendingItems == 2 && decoded.lcmQueue.pendingItemNames.isEmpty)
    }

    @Test func referencesAndNamesAreValidated() throws {
        #expect(try ImageReference(parsing: "win11") == ImageReference(name: "win11"))
        #expect(try ImageReference(parsing: "win11:2026.12") == ImageReference(name: "win11", version: "2026.12"))
        for bad in ["", "../etc", "a/b", "win11:", "-x", "win 11"] {
            #expect(throws: LCMError.self, "\(bad)") { try ImageReference(parsing: bad) }
        }
    }

    @Test func readinessNamesEachProblemOnce() {
        var inspection = WindowsInspection()
        inspection.isWindows = true
        inspection.generalization.imageState = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
        inspection.virtio.storageDrivers = ["viostor"]
        inspection.virtio.networkDrivers = ["netkvm"]
        #expect(ImageReadiness.problems(inspection).isEmpty)
        inspection.lcmQueue.pendingItemNames = ["001-virtio-drivers.cmd"]
        inspection.lcmQueue.pendingItems = 1
        #expect(ImageReadiness.problems(inspection).isEmpty, "lcm's own first-boot driver setup is no pending patch")
        inspection.lcmQueue.pendingItemNames.append("002-KB5040442.msu")
        #expect(ImageReadiness.problems(inspection).map(\.id) == ["lcm-queue-pending"])
    }
}
