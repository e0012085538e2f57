import Foundation
import LCMTestSupport
import Testing

/// Partition tables written by `DiskLayout`, checked by sfdisk and sgdisk on sparse files.
@Suite struct DiskLayoutTests {
    /// Writes the spec's partition table into a sparse file of its size.
    private func image(_ spec: WindowsDiskSpec, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("disk.img").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(spec.virtualSize))
        for write in spec.layout.tableWrites {
            try handle.seek(toOffset: UInt64(write.offset))
            try handle.write(contentsOf: Data(write.bytes))
        }
        try handle.close()
        return path
    }

    private func sfdisk(_ path: String) throws -> [String: Any] {
        let json = try runTool("sfdisk", ["--json", path]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return object?["partitiontable"] as? [String: Any] ?? [:]
    }

    @Test func gptLayoutIsWhatWindowsSetupCreates() throws {
        let spec = WindowsDiskSpec()
        let layout = spec.layout
        let dir = try makeTemporaryDirectory("lcm-layout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try image(spec, in: dir)

        let verify = try runTool("sgdisk", ["-v", path]).stdout
        #expect(verify.contains("No problems found"), "\(verify)")
        let table = try sfdisk(path)
        #expect(table["label"] as? String == "gpt")
        #expect((table["id"] as? String)?.uppercased() == layout.diskGUID)
        let partitions = table["partitions"] as? [[String: Any]] ?? []
        #expect(partitions.count == 3)
        for (entry, expected) in zip(partitions, layout.partitions) {
            #expect(entry["start"] as? Int64 == expected.startSector)
            #expect(entry["size"] as? Int64 == expected.sectorCount)
            #expect((entry["type"] as? String)?.uppercased() == expected.typeGUID)
            #expect((entry["uuid"] as? String)?.uppercased() == expected.uniqueGUID)
            #expect(entry["name"] as? String == expected.name)
        }
        #expect(layout.partitions.map(\.role) == [.efiSystem, .microsoftReserved, .windows])
        #expect(layout.partition(.efiSystem)?.size == 100 << 20)
        #expect(layout.windowsPartition.uniqueGUID == spec.resolvedWindowsPartitionGUID)
        #expect(layout.windowsPartition.startOffset % (1 << 20) == 0)
        #expect(layout.mountedDevicesValue == Array("DMIO:ID:".utf8) + DiskLayout.guidBytes(spec.resolvedWindowsPartitionGUID))
    }

    @Test func mbrLayoutHasSystemReservedAndTheDiskSignature() throws {
        let spec = WindowsDiskSpec { $0.partitioning = .mbr; $0.diskSignature = 0x1234_ABCD; $0.virtualSize = 2 << 30 }
        let layout = spec.layout
        let dir = try makeTemporaryDirectory("lcm-layout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let table = try sfdisk(try image(spec, in: dir))
        #expect(table["label"] as? String == "dos")
        #expect(table["id"] as? String == "0x1234abcd")
        let partitions = table["partitions"] as? [[String: Any]] ?? []
        #expect(partitions.map { $0["start"] as? Int64 } == layout.partitions.map(\.startSector))
        #expect(partitions.map { $0["size"] as? Int64 } == layout.partitions.map(\.sectorCount))
        #expect(partitions.map { $0["type"] as? String } == ["7", "7"])
        #expect(partitions.first?["bootable"] as? Bool == true)
        #expect(layout.partitions.map(\.role) == [.systemReserved, .windows])
        // MountedDevices for C: on MBR: disk signature, then the partition's byte offset.
        var expected: [UInt8] = [0xCD, 0xAB, 0x34, 0x12]
        expected += withUnsafeBytes(of: UInt64(layout.windowsPartition.startOffset).littleEndian) { Array($0) }
        #expect(layout.mountedDevicesValue == expected)
    }

    @Test func identitiesAreDerivedPerSpecAndCanBeGiven() {
        let a = WindowsDiskSpec()
        let b = WindowsDiskSpec { $0.computerName = "OTHER" }
        #expect(a.resolvedWindowsPartitionGUID != b.resolvedWindowsPartitionGUID)
        #expect(a.resolvedDiskSignature != b.resolvedDiskSignature)
        #expect(a.resolvedWindowsPartitionGUID == WindowsDiskSpec().resolvedWindowsPartitionGUID)
        #expect(UUID(uuidString: a.resolvedWindowsPartitionGUID) != nil)
        let given = WindowsDiskSpec { $0.windowsPartitionGUID = "01234567-89ab-cdef-0123-456789abcdef" }
        #expect(given.resolvedWindowsPartitionGUID == "01234567-89AB-CDEF-0123-456789ABCDEF")
    }

    @Test func guidBytesAreMixedEndian() {
        #expect(DiskLayout.guidBytes("01234567-89AB-CDEF-0123-456789ABCDEF")
                == [0x67, 0x45, 0x23, 0x01, 0xAB, 0x89, 0xEF, 0xCD, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF])
    }

    @Test func specValidation() {
        #expect(throws: WindowsDiskError.self) { try WindowsDiskSpec { $0.bootable = true; $0.partitioning = .mbr }.validate() }
        #expect(throws: WindowsDiskError.self) { try WindowsDiskSpec { $0.fault = .truncatedImage; $0.format = .raw }.validate() }
        #expect(throws: WindowsDiskError.self) { try WindowsDiskSpec { $0.virtualSize = 100 << 20 }.validate() }
        #expect(throws: WindowsDiskError.self) { try WindowsDiskSpec { $0.computerName = "A-NAME-TOO-LONG-1" }.validate() }
        #expect(throws: Never.self) { try WindowsDiskSpec().validate() }
    }

    /// A JSON spec names only what differs; the rest takes the defaults.
    @Test func specDecodesWithDefaults() throws {
        let spec = try JSONDecoder().decode(WindowsDiskSpec.self, from: Data(#"{"computerName":"FROM-JSON","fault":"noWindows"}"#.utf8))
        var expected = WindowsDiskSpec()
        expected.computerName = "FROM-JSON"
        expected.fault = .noWindows
        #expect(spec == expected)
        #expect(try JSONDecoder().decode(WindowsDiskSpec.self, from: WindowsDiskSpec().canonicalJSON) == WindowsDiskSpec())
    }
}
