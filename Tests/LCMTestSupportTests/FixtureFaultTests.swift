import Foundation
import LCMKit
#if canImport(FoundationXML)
import FoundationXML
#endif
import Guestfs
import LCMTestSupport
import Testing

/// The disks with the faults image import and readiness checks must detect: a BitLocker-encrypted
/// C: (GPT and MBR) and an answer file left behind with its secrets.
enum FaultDisk: String, CaseIterable, Sendable, FixtureDisk {
    case bitLocker, bitLockerMBR, leftoverAnswerFile

    var spec: WindowsDiskSpec {
        switch self {
        case .bitLocker:
            return WindowsDiskSpec { $0.fault = .bitLocker; $0.computerName = "LCM-BITLOCKER" }
        case .bitLockerMBR:
            return WindowsDiskSpec {
                $0.fault = .bitLocker
                $0.format = .raw
                $0.partitioning = .mbr
                $0.computerName = "LCM-BITLOCK-MBR"
            }
        case .leftoverAnswerFile:
            return WindowsDiskSpec { $0.fault = .leftoverAnswerFile; $0.computerName = "LCM-UNATTEND" }
        }
    }
}

/// The fault disks, built in one appliance launch (or taken from the cache), and one read-only
/// appliance with all of them, inspected once when it starts.
actor FaultDiskFixture {
    static let shared = FaultDiskFixture()

    let builder = WindowsDiskBuilder(log: { print("fault-disks: \($0)") })
    private var buildTask: Task<[FaultDisk: CachedDisk], any Error>?
    private var applianceTask: Task<(VerificationAppliance<FaultDisk>, roots: [String]), any Error>?

    func disks() async throws -> [FaultDisk: CachedDisk] {
        if buildTask == nil {
            let builder = self.builder
            buildTask = Task {
                try await offThePool { try fixtureImages(FaultDisk.allCases, builder: builder, name: "fault-disks") }
            }
        }
        return try await buildTask!.value
    }

    /// The appliance and the roots `inspect_os` found on it.
    func appliance() async throws -> (VerificationAppliance<FaultDisk>, roots: [String]) {
        if applianceTask == nil {
            applianceTask = Task {
                let disks = try await self.disks()
                return try await offThePool {
                    let appliance = try VerificationAppliance.launch(FaultDisk.allCases.map { ($0, disks[$0]!) }, name: "fault-disks")
                    let start = ContinuousClock.now
                    let roots = try appliance.exclusive { try $0.inspectOS() }
                    print(String(format: "fault-disks: inspected in %.1f s: %@", secondsSince(start), roots.joined(separator: " ")))
                    return (appliance, roots)
                }
            }
        }
        return try await applianceTask!.value
    }
}

@Suite("Fixture faults: BitLocker and leftover answer file", .enabled(if: applianceTestsEnabled))
struct FixtureFaultTests {
    let fixture = FaultDiskFixture.shared

    @Test func faultDisksShareOneBuildLaunch() async throws {
        let disks = try await fixture.disks()
        let builtNow = disks.values.filter(\.builtNow)
        #expect(builtNow.allSatisfy { $0.info.batchSize == builtNow.count }, "every disk built now shares one launch")
        for disk in FaultDisk.allCases {
            let image = disks[disk]!
            print(String(format: "fault-disks: %-18@ %@ %5.1f MB  launch %4.1f s  disk %5.1f s  batch %5.1f s (%d disks)%@",
                         disk.rawValue, image.spec.format.rawValue, Double(image.info.imageBytes) / 1e6,
                         image.info.launchSeconds, image.info.diskSeconds, image.info.batchSeconds, image.info.batchSize,
                         image.builtNow ? "" : "  [cached]"))
            let check = try runTool("qemu-img", ["check", "-f", image.spec.format.rawValue, image.url.path], check: false)
            // qemu-img check has nothing to check on raw images (status 63 = "not supported").
            #expect(check.status == 0 || image.spec.format == .raw, "\(disk): \(check.stderr)")
        }
    }

    /// libblkid, through libguestfs, calls the encrypted C: "BitLocker"; list-filesystems never
    /// offers it as a filesystem of another type (libguestfs 1.48 leaves it out); the boot
    /// partitions are untouched; C: cannot be mounted and inspection finds no Windows on the
    /// disk, while the plain disk in the same appliance is inspected as usual.
    @Test func bitLockerVolumeIsBitLockerAndHidesWindows() async throws {
        let (appliance, roots) = try await fixture.appliance()
        let filesystems = try appliance.exclusive { try $0.listFilesystems() }
        for disk in [FaultDisk.bitLocker, .bitLockerMBR] {
            let spec = disk.spec
            let device = appliance.devices[disk]!
            let windows = appliance.partition(disk, .windows)
            try appliance.exclusive { g in
                #expect(try g.vfsType(windows) == BitLockerVolume.blkidType, "\(disk)")
                #expect(throws: GuestfsError.self, "\(disk): an encrypted volume must not mount") {
                    try g.mountReadOnly(windows, at: "/")
                }
                if spec.partitioning == .gpt {
                    let esp = appliance.partition(disk, .efiSystem)
                    #expect(try g.vfsType(esp) == "vfat")
                    try g.mountReadOnly(esp, at: "/")
                    #expect(try g.isFile("/EFI/Microsoft/Boot/BCD"))
                } else {
                    let reserved = appliance.partition(disk, .systemReserved)
                    #expect(try g.vfsType(reserved) == "ntfs")
                    try g.mountReadOnly(reserved, at: "/")
                    #expect(try g.isFile("/Boot/BCD"))
                }
            }
            let listed = filesystems.first { $0.device == windows }
            #expect(listed == nil || listed?.type == BitLockerVolume.blkidType,
                    "\(disk): list-filesystems says \(String(describing: listed))")
            #expect(filesystems.contains { $0.device.hasPrefix(device) }, "\(disk): its boot partition is listed")
            #expect(!roots.contains { $0.hasPrefix(device) }, "\(disk): \(roots)")
        }
        // The control: inspection did run and finds the unencrypted disk next to them.
        #expect(roots.contains(appliance.partition(.leftoverAnswerFile, .windows)),
                "\(roots)")
    }

    /// The raw volume header carries what libblkid checks, read here without libblkid: the
    /// signature at offset 3, a metadata offset at 176 that is a non-zero multiple of 64, and a
    /// metadata block there with the signature again. The host's blkid, probing the volume in
    /// the raw image, agrees and sees no partition table inside it; cryptsetup reads the
    /// metadata entries.
    @Test func bitLockerHeaderHasTheSignatureAndMetadata() async throws {
        let disk = try await fixture.disks()[.bitLockerMBR]!
        let partition = disk.spec.layout.windowsPartition
        let handle = try FileHandle(forReadingFrom: disk.url)
        defer { try? handle.close() }
        func read(_ offset: Int64, _ count: Int) throws -> [UInt8] {
            try handle.seek(toOffset: UInt64(partition.startOffset + offset))
            return [UInt8](try handle.read(upToCount: count) ?? Data())
        }
        let header = try read(0, 512)
        #expect(header[0..<3] == [0xEB, 0x58, 0x90])
        #expect(String(decoding: header[3..<11], as: UTF8.self) == BitLockerVolume.signature)
        #expect(header[160..<176] == ArraySlice(DiskLayout.guidBytes(BitLockerVolume.volumeHeaderGUID)))
        let metadataOffset = header[176..<184].reversed().reduce(Int64(0)) { $0 << 8 | Int64($1) }
        #expect(metadataOffset > 0 && metadataOffset % 64 == 0)
        #expect(metadataOffset == BitLockerVolume.metadataOffsets(volumeSize: partition.size)[0])
        for offset in BitLockerVolume.metadataOffsets(volumeSize: partition.size) {
            #expect(String(decoding: try read(offset, 8), as: UTF8.self) == BitLockerVolume.signature, "block at \(offset)")
        }
        // No NTFS anywhere it would be looked for: neither the boot sector nor its backup copy
        // in the volume's last sector.
        #expect(String(decoding: header[3..<7], as: UTF8.self) != "NTFS")
        #expect(String(decoding: try read(partition.size - 512, 512)[3..<7], as: UTF8.self) != "NTFS")

        let probe = try runTool("blkid", ["-p", "-O", String(partition.startOffset), "-o", "export", disk.url.path], check: false)
        let fields = Dictionary(probe.stdout.split(separator: "\n").compactMap { line -> (String, String)? in
            let pair = line.split(separator: "=", maxSplits: 1).map(String.init)
            return pair.count == 2 ? (pair[0], pair[1]) : nil
        }, uniquingKeysWith: { first, _ in first })
        #expect(fields["TYPE"] == BitLockerVolume.blkidType, "\(probe.stdout) \(probe.stderr)")
        #expect(fields["USAGE"] == "crypto")
        #expect(fields["PTTYPE"] == nil, "\(probe.stdout)")

        // cryptsetup's BITLK support reads the whole metadata (key protectors, volume key,
        // description); it needs the volume as a file of its own, whose first part is enough.
        guard findTool("cryptsetup") != nil else { return }
        let dir = try makeTemporaryDirectory("lcm-bitlocker")
        defer { try? FileManager.default.removeItem(at: dir) }
        let volume = dir.appendingPathComponent("volume.img").path
        let length = BitLockerVolume.metadataOffsets(volumeSize: partition.size)[0] + (1 << 20)
        try runTool("qemu-img", ["convert", "-q", "--image-opts",
                                 "driver=raw,offset=\(partition.startOffset),size=\(length),file.driver=file,file.filename=\(disk.url.path)",
                                 "-O", "raw", volume])
        let dump = try runTool("cryptsetup", ["bitlkDump", volume], check: false)
        #expect(dump.status == 0, "\(dump.stdout) \(dump.stderr)")
        #expect(dump.stdout.contains("Description:  \t\(BitLockerVolume.description(for: disk.spec))"), "\(dump.stdout)")
        #expect(dump.stdout.contains("VMK protected with TPM"), "\(dump.stdout)")
        #expect(dump.stdout.contains("VMK protected with recovery passphrase"), "\(dump.stdout)")
        #expect(dump.stdout.contains("FVEK"), "\(dump.stdout)")
        let areas = dump.stdout.components(separatedBy: "FVE metadata area").dropFirst().compactMap { area in
            area.split(separator: "\n").first { $0.contains("Offset:") }?.split(separator: "\t").dropFirst().first
                .flatMap { Int64($0.split(separator: " ")[0]) }
        }
        #expect(areas == BitLockerVolume.metadataOffsets(volumeSize: partition.size), "\(dump.stdout)")
    }

    /// The answer file is in Panther (and only there), with the spec's secrets where Windows
    /// Setup reads them.
    @Test func leftoverAnswerFileHoldsTheSecrets() async throws {
        let (appliance, _) = try await fixture.appliance()
        let spec = FaultDisk.leftoverAnswerFile.spec
        let secrets = spec.answerFileSecrets
        let (text, present) = try appliance.exclusive { g in
            try g.mountReadOnly(appliance.partition(.leftoverAnswerFile, .windows), at: "/")
            let present = try WindowsDiskSpec.answerFileLocations.map { try g.isFile($0) }
            return (try g.readString(WindowsDiskSpec.leftoverAnswerFilePath), present)
        }
        #expect(present == WindowsDiskSpec.answerFileLocations.map { $0 == WindowsDiskSpec.leftoverAnswerFilePath })
        #expect(text == UnattendAnswerFile.xml(for: spec))
        #expect(text.contains(secrets.administratorPassword))
        #expect(text.contains(secrets.autoLogonPassword))
        #expect(text.contains(secrets.productKey))

        let document = try XMLDocument(data: Data(text.utf8))
        func values(_ element: String) throws -> [String] {
            try document.nodes(forXPath: "//*[local-name()='\(element)']").compactMap(\.stringValue)
        }
        func value(_ path: [String]) throws -> String? {
            let xpath = path.map { "*[local-name()='\($0)']" }.joined(separator: "/")
            return try document.nodes(forXPath: "//" + xpath).first?.stringValue
        }
        #expect(try value(["AdministratorPassword", "Value"]) == secrets.administratorPassword)
        #expect(try value(["AdministratorPassword", "PlainText"]) == "true")
        #expect(try value(["AutoLogon", "Password", "Value"]) == secrets.autoLogonPassword)
        #expect(try value(["AutoLogon", "Password", "PlainText"]) == "true")
        #expect(try value(["AutoLogon", "Username"]) == secrets.autoLogonUsername)
        #expect(try value(["ProductKey", "Key"]) == secrets.productKey)
        #expect(try values("ComputerName") == [spec.computerName])

        // Each disk has its own secrets.
        #expect(WindowsDiskSpec().answerFileSecrets != secrets)
        #expect(secrets.productKey.split(separator: "-").map(\.count) == [5, 5, 5, 5, 5])
    }

    /// Apart from the answer file it is a normal Windows disk: inspection reads its registry.
    @Test func leftoverAnswerFileDiskIsOtherwiseNormal() async throws {
        let (appliance, roots) = try await fixture.appliance()
        let spec = FaultDisk.leftoverAnswerFile.spec
        let root = appliance.partition(.leftoverAnswerFile, .windows)
        #expect(roots.contains(root))
        let (product, hostname) = try appliance.exclusive { g in
            (try g.inspectGetProductName(root), try g.inspectGetHostname(root))
        }
        #expect(product == spec.productName)
        #expect(hostname == spec.resolvedHostname)
    }
}

/// The specs of the new faults: validation, and no change to the JSON (and so the cache keys)
/// of specs that do not use them. Needs no appliance.
@Suite("Fixture fault specs")
struct FixtureFaultSpecTests {
    @Test func bitLockerRejectsWhatNeedsAWritableVolume() {
        #expect(throws: WindowsDiskError.self) { try WindowsDiskSpec { $0.fault = .bitLocker; $0.bootable = true }.validate() }
        #expect(throws: WindowsDiskError.self) {
            try WindowsDiskSpec {
                $0.fault = .bitLocker
                $0.queue = [StagedItem(order: 1, name: "setup", kind: .cmd, payload: "@echo off\r\n")]
            }.validate()
        }
        #expect(throws: Never.self) { try WindowsDiskSpec { $0.fault = .bitLocker }.validate() }
        #expect(throws: Never.self) { try WindowsDiskSpec { $0.fault = .leftoverAnswerFile; $0.bootable = true }.validate() }
    }

    @Test func specsWithoutTheNewFaultsEncodeAsBefore() throws {
        // The JSON names the fault only when there is one, by its raw value.
        let plain = String(decoding: WindowsDiskSpec().canonicalJSON, as: UTF8.self)
        #expect(!plain.contains("\"fault\""))
        let json = String(decoding: WindowsDiskSpec { $0.fault = .bitLocker }.canonicalJSON, as: UTF8.self)
        #expect(json.contains("\"fault\":\"bitLocker\""))
        let decoded = try JSONDecoder().decode(WindowsDiskSpec.self, from: Data(#"{"fault":"leftoverAnswerFile"}"#.utf8))
        #expect(decoded.fault == .leftoverAnswerFile)
        #expect(decoded.hasWindows && !decoded.windowsVolumeIsEncrypted)
        #expect(WindowsDiskSpec { $0.fault = .bitLocker }.windowsVolumeIsEncrypted)
    }

    /// The BitLocker structures stay inside the volume and clear of each other.
    @Test func bitLockerMetadataFitsTheVolume() {
        for spec in [FaultDisk.bitLocker.spec, FaultDisk.bitLockerMBR.spec, WindowsDiskSpec { $0.virtualSize = 512 << 20 }] {
            let size = spec.layout.windowsPartition.size
            let offsets = BitLockerVolume.metadataOffsets(volumeSize: size)
            #expect(offsets.count == 3)
            #expect(offsets.allSatisfy { $0 % (64 << 10) == 0 && $0 >= 2 << 20 && $0 + (64 << 10) <= size }, "\(offsets) in \(size)")
            #expect(Set(offsets).count == 3)
        }
    }
}
