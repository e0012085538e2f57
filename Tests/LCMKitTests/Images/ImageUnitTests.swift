import Foundation
import Hivex
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

    /// A GPT from an image names sectors as 64-bit numbers; ones past what a byte offset can hold
    /// trapped in the arithmetic (lcm crashed on such an image). Such an entry is left out, the
    /// others still read.
    @Test func aGPTWithSectorNumbersPastAnyDiskIsReadWithoutTrapping() throws {
        let layout = WindowsDiskSpec { $0.partitioning = .gpt }.layout
        var head = [UInt8](repeating: 0, count: 34 * 512)
        for write in layout.tableWrites where write.offset < head.count {
            head.replaceSubrange(Int(write.offset)..<Int(write.offset) + write.bytes.count, with: write.bytes)
        }
        func put64(_ value: UInt64, at offset: Int, in bytes: inout [UInt8]) {
            for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        }
        var hugeEntry = head
        put64(1 << 62, at: 1024 + 32, in: &hugeEntry)       // first sector of entry 1
        put64(UInt64.max, at: 1024 + 40, in: &hugeEntry)    // its last sector
        let table = try #require(PartitionTable.decode(hugeEntry))
        #expect(table.entries.map(\.number) == layout.partitions.map(\.number).filter { $0 != 1 })

        var hugeStart = head
        put64(1 << 60, at: 512 + 72, in: &hugeStart)        // the entries' first sector
        #expect(try #require(PartitionTable.decode(hugeStart)).entries.isEmpty)
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

    /// Issue 27 item 8: the IDs seen were looked up in an array, quadratic in an INF from
    /// outside that names many. 60,000 distinct IDs, in order of first mention, in seconds.
    @Test func anINFNamingManyDevicesIsReadInLinearTime() throws {
        let ids = (0..<60_000).map { String(format: "VEN_%04X&DEV_%04X", 0x1AF4 + $0 >> 16, $0 & 0xFFFF) }
        let inf = ids.map { "%D% = install, PCI\\\($0)&SUBSYS_00021AF4\r\n%D% = install, PCI\\\($0)\r\n" }.joined()
        let found = try #require(try InputCost.finished(within: .seconds(40), "INF naming 60,000 devices") {
            VirtioDriverSource.pciIDs(inInf: inf)
        }?.get())
        #expect(found == ids)
    }

    /// Driver media from outside are read into memory only up to a bound: a driver folder
    /// holding a huge file (here a 300 MiB sparse one, and the same as a few KiB of tar.gz) is
    /// refused as bad data. A FIFO in an unpacked tree is still passed over, not waited on.
    @Test func driverMediaAreReadWithinABound() throws {
        let scratch = ScratchDirectory(prefix: "lcm-driver-bound")
        let folder = scratch.url.appendingPathComponent("tree/viostor/w11/amd64")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let windows = {
            var windows = WindowsInspection()
            windows.majorVersion = 10; windows.minorVersion = 0; windows.buildNumber = 22631; windows.architecture = "x86_64"
            return windows
        }()
        try Data("sys".utf8).write(to: folder.appendingPathComponent("viostor.sys"))
        try Data("%D% = install, PCI\\VEN_1AF4&DEV_1001\r\n".utf8).write(to: folder.appendingPathComponent("viostor.inf"))
        #expect(mkfifo(folder.appendingPathComponent("viostor.pdb").path, 0o600) == 0)
        let tree = scratch.url.appendingPathComponent("tree").path
        let withFIFO = try #require(try InputCost.finished(within: .seconds(40), "driver tree with a FIFO") {
            try VirtioDriverSource(source: tree).drivers(for: windows)
        }?.get())
        #expect(withFIFO.map(\.service) == ["viostor"])
        #expect(withFIFO.first?.files.map(\.name) == ["viostor.inf", "viostor.sys"])
        #expect(withFIFO.first?.pciIDs == ["VEN_1AF4&DEV_1001"])

        let huge = folder.appendingPathComponent("viostor.cat")
        #expect(FileManager.default.createFile(atPath: huge.path, contents: nil))
        try FileHandle(forWritingTo: huge).truncate(atOffset: 300 << 20)
        let archive = scratch.url.appendingPathComponent("media.tar.gz").path
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.arguments = ["-czf", archive, "-C", tree, "--exclude=viostor.pdb", "viostor"]
        try tar.run(); tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        for source in [tree, archive] {
            let refused = try #require(InputCost.finished(within: .seconds(60), "driver media \(source) with a 300 MiB file") {
                try VirtioDriverSource(source: source).drivers(for: windows)
            })
            let error = try #require(#expect(throws: LCMError.self) { try refused.get() })
            #expect(error.code == .dataError)
            #expect(error.message.contains("more than 256 MiB"), "\(error.message)")
        }
    }

    /// Issue 27 item 8, hives: `image diff` walks two hives from images recursively. A crafted
    /// hive whose keys share subkey lists has 2^n paths through n keys (here 2^40), and one
    /// nested deeper than Windows allows exhausts the stack; both are refused as damaged.
    @Test func imageDiffWalksEachKeyOnceAndNoDeeperThanWindows() throws {
        let scratch = ScratchDirectory(prefix: "lcm-hive-walk")
        // K1 -> (L1 -> K2, R1 -> X1), K2 -> (L2 -> K3, R2 -> X2), ...; then each R's subkey list is
        // made L's, so that both lead to the next K.
        let levels = 40
        var chain = RegistryKey("K\(levels + 1)", values: [.init("Leaf", .dword(1))])
        for level in stride(from: levels, through: 1, by: -1) {
            chain = RegistryKey("K\(level)", subkeys: [RegistryKey("L\(level)", subkeys: [chain]),
                                                       RegistryKey("R\(level)", subkeys: [RegistryKey("X\(level)")])])
        }
        var bytes = RegistryHive.build(root: RegistryKey("ROOT", subkeys: [chain]))
        func keyCell(_ name: String) throws -> Int {
            let wanted = Array(name.utf8)
            // An nk cell: "nk", ..., the name's length at 0x48 and the name at 0x4C.
            for offset in stride(from: 4096, to: bytes.count - 0x4C - wanted.count, by: 1)
            where bytes[offset] == 0x6E && bytes[offset + 1] == 0x6B
                && Int(bytes[offset + 0x48]) | Int(bytes[offset + 0x49]) << 8 == wanted.count
                && Array(bytes[offset + 0x4C..<offset + 0x4C + wanted.count]) == wanted {
                return offset
            }
            throw LCMError(.dataError, "no key cell named \(name)")
        }
        for level in 1...levels {
            let left = try keyCell("L\(level)"), right = try keyCell("R\(level)")
            bytes.replaceSubrange(right + 0x1C..<right + 0x20, with: bytes[left + 0x1C..<left + 0x20])
        }
        let shared = scratch.url.appendingPathComponent("shared.hive").path
        try Data(bytes).write(to: URL(fileURLWithPath: shared))
        let sharedOutcome = try #require(InputCost.finished(within: .seconds(60), "diff of hives with 2^40 paths") {
            try HiveComparison.compare(hive: "SOFTWARE", old: Hive(path: shared), new: Hive(path: shared)).count
        })
        let sharedError = try #require(#expect(throws: LCMError.self) { try sharedOutcome.get() })
        #expect(sharedError.code == .dataError)
        #expect(sharedError.message.contains("reached twice"), "\(sharedError.message)")

        var deep = RegistryKey("D600")
        for level in stride(from: 599, through: 1, by: -1) { deep = RegistryKey("D\(level)", subkeys: [deep]) }
        let deepPath = scratch.url.appendingPathComponent("deep.hive").path
        try Data(RegistryHive.build(root: RegistryKey("ROOT", subkeys: [deep]))).write(to: URL(fileURLWithPath: deepPath))
        let deepError = try #require(#expect(throws: LCMError.self) {
            try HiveComparison.compare(hive: "SYSTEM", old: Hive(path: deepPath), new: Hive(path: deepPath))
        })
        #expect(deepError.message.contains("deeper than 512 levels"), "\(deepError.message)")

        // A sound pair still compares: one value changed, found once.
        let before = scratch.url.appendingPathComponent("before.hive").path, after = scratch.url.appendingPathComponent("after.hive").path
        try Data(RegistryHive.build(root: RegistryKey("ROOT", subkeys: [RegistryKey("A", values: [.init("V", .dword(1))])]))).write(to: URL(fileURLWithPath: before))
        try Data(RegistryHive.build(root: RegistryKey("ROOT", subkeys: [RegistryKey("A", values: [.init("V", .dword(2))])]))).write(to: URL(fileURLWithPath: after))
        let changes = try HiveComparison.compare(hive: "SOFTWARE", old: Hive(path: before), new: Hive(path: after))
        #expect(changes.map { "\($0.key) \($0.value ?? "") \($0.change)" } == ["A V modified"])
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
