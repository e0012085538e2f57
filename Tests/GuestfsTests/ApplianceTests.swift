import Foundation
import Guestfs
import LCMTestSupport
import Testing

/// One launched appliance shared by every appliance test (a launch costs 13-25 s under TCG).
///
/// Three drives: `/dev/sda`, a 256 MiB qcow2 partitioned GPT with one NTFS partition mounted
/// at `/`; `/dev/sdb`, a 16 MiB raw disk added read-only; `/dev/sdc`, an 8 MiB raw image
/// served by `qemu-nbd` on a unix socket. The image files are deleted right after launch (qemu
/// and qemu-nbd keep them open; the test keeps a handle on the NBD image to check what
/// reached it), so nothing is left behind. libguestfs closes the handle at process exit, and
/// qemu-nbd exits when its only client goes.
final class Appliance: Sendable {
    static let dataDisk = "/dev/sda"
    static let dataPartition = "/dev/sda1"
    static let readOnlyDisk = "/dev/sdb"
    static let nbdDisk = "/dev/sdc"
    static let dataDiskSize: Int64 = 256 << 20
    static let readOnlyDiskSize: Int64 = 16 << 20
    static let nbdDiskSize: Int64 = 8 << 20
    static let partitionGUID = "01234567-89AB-CDEF-0123-456789ABCDEF"
    static let basicDataType = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"

    let session: GuestfsSession
    let launchSeconds: Double
    /// The (deleted) image behind the NBD drive, still readable.
    let nbdImage: FileHandle

    private init(session: GuestfsSession, launchSeconds: Double, nbdImage: FileHandle) {
        self.session = session
        self.launchSeconds = launchSeconds
        self.nbdImage = nbdImage
    }

    static func launch() throws -> Appliance {
        let dir = try makeTemporaryDirectory("lcm-guestfs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let qcow2 = dir.appendingPathComponent("data.qcow2").path
        let raw = dir.appendingPathComponent("readonly.img").path
        let nbdImage = dir.appendingPathComponent("nbd.img").path
        let socket = dir.appendingPathComponent("nbd.sock").path
        try runTool("qemu-img", ["create", "-q", "-f", "qcow2", qcow2, "256M"])
        try createSparseFile(raw, size: readOnlyDiskSize)
        try createSparseFile(nbdImage, size: nbdDiskSize)
        let nbdHandle = try FileHandle(forReadingFrom: URL(fileURLWithPath: nbdImage))
        try startNBDServer(image: nbdImage, socket: socket)

        let session = try GuestfsSession(backend: "direct", backendSettings: GuestfsSession.tcgBackendSettings,
                                         callTimeout: 600, launchTimeout: 300)
        try session.addDrive(path: qcow2, format: "qcow2", label: "data")
        try session.addDrive(path: raw, format: "raw", readonly: true)
        try session.addNBDDrive(socketPath: socket, format: "raw", label: "nbd")
        let clock = ContinuousClock()
        let start = clock.now
        try session.launch()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("guestfs appliance launch took \(String(format: "%.1f", seconds)) s")

        try session.partDisk(dataDisk, .gpt)
        try session.partSetGptType(dataDisk, partition: 1, guid: basicDataType)
        try session.partSetGptGuid(dataDisk, partition: 1, guid: partitionGUID)
        try session.mkfs("ntfs", device: dataPartition, label: "LCMTEST")
        try session.mount(dataPartition, at: "/")
        return Appliance(session: session, launchSeconds: seconds, nbdImage: nbdHandle)
    }

    private static func createSparseFile(_ path: String, size: Int64) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ToolError(description: "cannot create \(path)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
    }

    /// Starts qemu-nbd serving `image` on `socket` for one client, and waits for the socket.
    private static func startNBDServer(image: String, socket: String) throws {
        guard let qemuNBD = findTool("qemu-nbd") else { throw ToolError(description: "qemu-nbd not found") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemuNBD)
        process.arguments = ["--socket=\(socket)", "--format=raw", "--cache=none", image]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning else { throw ToolError(description: "qemu-nbd exited early") }
            usleep(50_000)
        }
        guard FileManager.default.fileExists(atPath: socket) else {
            process.terminate()
            throw ToolError(description: "qemu-nbd did not create \(socket)")
        }
    }

    /// Bytes of the NBD image as the host sees them.
    func nbdImageBytes(at offset: UInt64, count: Int) throws -> [UInt8] {
        try nbdImage.seek(toOffset: offset)
        return Array(try nbdImage.read(upToCount: count) ?? Data())
    }

    /// Mounts the NTFS partition at `/` unless it is (inspection unmounts everything).
    func ensureMounted() throws {
        if try !session.mounts().contains(where: { $0.mountpoint == "/" }) {
            try session.mount(Self.dataPartition, at: "/")
        }
    }
}

/// Launches the shared appliance once, on first use; later callers get the same one (or the
/// same launch error).
actor SharedAppliance {
    static let instance = SharedAppliance()
    private var launched: Result<Appliance, any Error>?

    func get() throws -> Appliance {
        if launched == nil { launched = Result { try Appliance.launch() } }
        let appliance = try launched.map { try $0.get() }
        guard let appliance else { throw ToolError(description: "appliance not launched") }
        try appliance.ensureMounted()
        return appliance
    }
}

/// Set LCM_SKIP_APPLIANCE_TESTS=1 to run only the tests that need no appliance.
let applianceTestsEnabled = ProcessInfo.processInfo.environment["LCM_SKIP_APPLIANCE_TESTS"] != "1"

@Suite(.serialized, .enabled(if: applianceTestsEnabled))
struct ApplianceTests {
    @Test func drivesPartitionsAndFilesystem() async throws {
        let a = try await SharedAppliance.instance.get()
        let g = a.session

        #expect(try g.listDevices() == [Appliance.dataDisk, Appliance.readOnlyDisk, Appliance.nbdDisk])
        #expect(try g.blockdevGetSize64(Appliance.dataDisk) == Appliance.dataDiskSize)
        #expect(try g.blockdevGetSize64(Appliance.readOnlyDisk) == Appliance.readOnlyDiskSize)
        #expect(try g.maximumDrives >= 2)

        #expect(try g.listPartitions() == [Appliance.dataPartition])
        #expect(try g.partGetPartitionTableType(Appliance.dataDisk) == "gpt")
        let partitions = try g.partList(Appliance.dataDisk)
        #expect(partitions.count == 1)
        #expect(partitions.first?.number == 1)
        #expect(try g.partGetGptGuid(Appliance.dataDisk, partition: 1) == Appliance.partitionGUID)
        #expect(try g.partGetGptType(Appliance.dataDisk, partition: 1) == Appliance.basicDataType)

        #expect(try g.listFilesystems().contains(DetectedFilesystem(device: Appliance.dataPartition, type: "ntfs")))
        #expect(try g.vfsType(Appliance.dataPartition) == "ntfs")
        #expect(try !g.vfsUUID(Appliance.dataPartition).isEmpty)
        #expect(try g.mounts().contains(Mount(device: Appliance.dataPartition, mountpoint: "/")))
        // ntfs-3g holds a mounted volume exclusively, so read the label unmounted.
        try g.umount("/")
        #expect(try g.mounts().isEmpty)
        #expect(try g.vfsLabel(Appliance.dataPartition) == "LCMTEST")
        try a.ensureMounted()

        let usage = try g.statvfs("/")
        #expect(usage.totalBytes > 200 << 20 && usage.totalBytes <= Appliance.dataDiskSize)
        #expect(usage.freeBytes > 0 && usage.freeBytes < usage.totalBytes)
    }

    /// Partitioning the NBD drive MBR reaches the image file on the host.
    @Test func nbdDriveAndMBRPartitioning() async throws {
        let a = try await SharedAppliance.instance.get()
        let g = a.session
        #expect(try g.blockdevGetSize64(Appliance.nbdDisk) == Appliance.nbdDiskSize)
        try g.partInit(Appliance.nbdDisk, .mbr)
        try g.partAddPart(Appliance.nbdDisk, .primary, startSector: 2048, endSector: -1)
        try g.partSetMbrId(Appliance.nbdDisk, partition: 1, id: 0x07)
        #expect(try g.partGetMbrId(Appliance.nbdDisk, partition: 1) == 0x07)
        #expect(try g.partGetPartitionTableType(Appliance.nbdDisk) == "msdos")
        #expect(try g.partList(Appliance.nbdDisk).map(\.start) == [2048 * 512])
        try g.sync()

        let mbr = try a.nbdImageBytes(at: 0, count: 512)
        #expect(mbr[510] == 0x55 && mbr[511] == 0xAA, "boot signature")
        #expect(mbr[446 + 4] == 0x07, "type byte of partition 1")
        let firstLBA = UInt32(mbr[454]) | UInt32(mbr[455]) << 8 | UInt32(mbr[456]) << 16 | UInt32(mbr[457]) << 24
        #expect(firstLBA == 2048)
    }

    @Test func filesRoundTrip() async throws {
        let g = try await SharedAppliance.instance.get().session
        try g.rmRF("/files")
        try g.mkdirP("/files/sub")
        #expect(try g.isDir("/files/sub"))

        try g.writeString("/files/hello.txt", "Hello, lcm\n")
        #expect(try g.readString("/files/hello.txt") == "Hello, lcm\n")
        #expect(try g.isFile("/files/hello.txt"))
        #expect(try g.filesize("/files/hello.txt") == 11)
        #expect(try g.fileType("/files/hello.txt").contains("text"))

        let allBytes = (0...255).map { UInt8($0) }
        try g.write("/files/bytes.bin", allBytes)
        #expect(try g.read("/files/bytes.bin") == allBytes)
        try g.write("/files/empty", [])
        #expect(try g.read("/files/empty") == [])

        try g.touch("/files/touched")
        try g.cp("/files/hello.txt", "/files/sub/copy.txt")
        #expect(try g.ls("/files") == ["bytes.bin", "empty", "hello.txt", "sub", "touched"])
        #expect(try g.caseSensitivePath("/FILES/Sub/COPY.TXT") == "/files/sub/copy.txt")
        try g.rm("/files/touched")
        #expect(try !g.exists("/files/touched"))

        let dir = try makeTemporaryDirectory("lcm-transfer")
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = SystemRandomNumberGenerator()
        let payload = Data((0..<(3 << 20) + 17).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let source = dir.appendingPathComponent("source.bin")
        let back = dir.appendingPathComponent("back.bin")
        try payload.write(to: source)
        try g.upload(source.path, to: "/files/sub/payload.bin")
        #expect(try g.filesize("/files/sub/payload.bin") == Int64(payload.count))
        try g.download("/files/sub/payload.bin", to: back.path)
        #expect(try Data(contentsOf: back) == payload)

        try g.rmRF("/files")
        #expect(try !g.exists("/files"))
        try g.sync()
    }

    @Test func hiveEditRoundTrip() async throws {
        let g = try await SharedAppliance.instance.get().session
        let dir = try makeTemporaryDirectory("lcm-hive")
        defer { try? FileManager.default.removeItem(at: dir) }
        let local = dir.appendingPathComponent("SOFTWARE")
        try Data(RegistryHive.minimal()).write(to: local)
        try g.mkdirP("/hives")
        try g.upload(local.path, to: "/hives/SOFTWARE")

        let keyPath = "Microsoft\\Windows NT\\CurrentVersion"
        let values: [(String, RegistryValue)] = [
            ("ProductName", .string("Windows 10 Pro")),
            ("CurrentMajorVersionNumber", .dword(10)),
            ("PathName", .expandString("%SystemRoot%")),
            ("Tags", .multiString(["one", "two"])),
            ("InstallTime", .qword(133_485_408_000_000_000)),
            ("DigitalProductId", .binary([1, 2, 3, 250])),
        ]
        try g.hivexOpen("/hives/SOFTWARE", write: true)
        let root = try g.hivexRoot()
        guard let key = try g.node(atPath: keyPath, create: true) else {
            Issue.record("node(atPath:create:) returned nil")
            return
        }
        for (name, value) in values { try g.nodeSetValue(key, key: name, value) }
        let doomed = try g.nodeAddChild(root, "Doomed")
        try g.nodeSetValue(doomed, key: "", type: .string, bytes: RegistryValue.string("x").data)
        try g.nodeDeleteChild(doomed)
        try g.hivexCommit()
        try g.hivexClose()

        // The host's hivex reads the committed file.
        try g.download("/hives/SOFTWARE", to: local.path)
        let name = try runTool("hivexget", [local.path, keyPath, "ProductName"])
        #expect(name.stdout == "Windows 10 Pro\n")
        let major = try runTool("hivexget", [local.path, keyPath, "CurrentMajorVersionNumber"])
        #expect(major.stdout == "10\n")
        try runTool("hivexml", [local.path])

        // And the wrapper reads it back typed, read-only.
        try g.withHive("/hives/SOFTWARE") { g in
            let root = try g.hivexRoot()
            #expect(try g.nodeChildren(root).map { try g.nodeName($0) } == ["Microsoft"])
            #expect(try g.node(atPath: "Doomed") == nil)
            #expect(try g.node(atPath: "Microsoft\\Missing") == nil)
            guard let key = try g.node(atPath: "microsoft\\windows nt\\currentversion") else {
                Issue.record("key not found case-insensitively")
                return
            }
            #expect(try g.nodeName(key) == "CurrentVersion")
            #expect(try g.nodeName(g.nodeParent(key)) == "Windows NT")
            #expect(try g.value(key, "ProductName") == .string("Windows 10 Pro"))
            #expect(try g.value(key, "CurrentMajorVersionNumber") == .dword(10))
            #expect(try g.value(key, "NoSuchValue") == nil)
            let read = try g.values(key)
            #expect(read.map(\.name) == values.map(\.0))
            #expect(read.map(\.value) == values.map(\.1))
            if let handle = try g.nodeGetValue(key, "CurrentMajorVersionNumber") {
                #expect(try g.valueKey(handle) == "CurrentMajorVersionNumber")
                #expect(try g.valueType(handle) == .dword)
                #expect(try g.valueBytes(handle) == [10, 0, 0, 0])
            } else {
                Issue.record("value handle not found")
            }
        }
    }

    @Test func failuresThrowAndPrintNothing() async throws {
        let g = try await SharedAppliance.instance.get().session
        let (outcome, printed) = try capturingStderr { () -> [GuestfsError] in
            var errors: [GuestfsError] = []
            func expectFailure(_ body: () throws -> Void) {
                do {
                    try body()
                    Issue.record("expected a GuestfsError")
                } catch let error as GuestfsError {
                    errors.append(error)
                } catch {
                    Issue.record("unexpected error type: \(error)")
                }
            }
            // Before launch, on a handle of its own (no second appliance is started).
            let fresh = try GuestfsSession(backendSettings: GuestfsSession.tcgBackendSettings)
            expectFailure { try fresh.addDrive(path: "/nonexistent/lcm-disk.qcow2", format: "qcow2") }
            fresh.close()
            expectFailure { _ = try fresh.listDevices() }
            // On the running appliance.
            expectFailure { try g.mount("/dev/sdz9", at: "/mnt") }
            expectFailure { _ = try g.read("/no/such/file") }
            expectFailure { try g.hivexOpen("/no/such/hive") }
            expectFailure { _ = try g.inspectGetWindowsSystemroot("/dev/sdb") }
            return errors
        }
        let errors = try outcome.get()
        #expect(errors.count == 6)
        for error in errors {
            #expect(!error.message.isEmpty, "\(error.operation) has no message")
            #expect(!printed.contains(error.message), "libguestfs printed: \(printed)")
        }
        #expect(errors.first?.operation == "add_drive")
        #expect(errors.first?.message.contains("/nonexistent/lcm-disk.qcow2") == true)
        #expect(errors.dropFirst().first?.message.contains("closed") == true)
        #expect(errors.dropFirst(3).first?.errno == ENOENT)
        // Other test targets share the process and may print; libguestfs must not.
        #expect(!printed.contains("libguestfs"), "libguestfs printed: \(printed)")
        #expect(g.warnings.isEmpty, "warnings: \(g.warnings)")
    }

    @Test func windowsInspection() async throws {
        let g = try await SharedAppliance.instance.get().session
        try FakeWindows.install(on: g)

        let roots = try g.inspectOS()
        #expect(roots == [Appliance.dataPartition])
        let os = try g.inspect(root: Appliance.dataPartition)
        #expect(os.type == "windows")
        #expect(os.distro == "windows")
        #expect(os.productName == FakeWindows.productName)
        #expect(os.productVariant == "Client")
        #expect(os.majorVersion == 10)
        #expect(os.minorVersion == 0)
        #expect(os.arch == "x86_64")
        #expect(os.hostname == FakeWindows.hostname)
        #expect(os.mountpoints == [Mount(device: Appliance.dataPartition, mountpoint: "/")])
        #expect(os.windows?.systemRoot == "/Windows")
        #expect(os.windows?.currentControlSet == "ControlSet001")
        #expect(os.windows?.softwareHive == "/Windows/System32/config/SOFTWARE")
        #expect(os.windows?.systemHive == "/Windows/System32/config/SYSTEM")
        #expect(os.windows?.driveMappings == ["C": Appliance.dataPartition])

        try g.mountReadOnly(Appliance.dataPartition, at: "/")
        let apps = try g.inspectListApplications(Appliance.dataPartition)
        try g.umountAll()
        try g.mount(Appliance.dataPartition, at: "/")
        let app = apps.first { $0.name == "LCMTestApp" }
        #expect(app?.displayName == "LCM Test Application")
        #expect(app?.version == "1.2.3")
        #expect(app?.publisher == "lcm")
    }
}

/// Just enough of a Windows installation for libguestfs inspection to recognise it.
enum FakeWindows {
    static let productName = "Windows 10 Pro"
    static let hostname = "LCM-TEST-PC"

    static func install(on g: GuestfsSession) throws {
        try g.mkdirP("/Windows/System32/config")
        try g.write("/Windows/System32/cmd.exe", peHeader())

        let dir = try makeTemporaryDirectory("lcm-fakewin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty-hive")
        try Data(RegistryHive.minimal()).write(to: empty)
        try g.upload(empty.path, to: "/Windows/System32/config/SOFTWARE")
        try g.upload(empty.path, to: "/Windows/System32/config/SYSTEM")

        try g.withHive("/Windows/System32/config/SOFTWARE", write: true) { g in
            guard let cv = try g.node(atPath: "Microsoft\\Windows NT\\CurrentVersion", create: true),
                  let app = try g.node(atPath: "Microsoft\\Windows\\CurrentVersion\\Uninstall\\LCMTestApp", create: true)
            else { throw ToolError(description: "cannot create SOFTWARE keys") }
            try g.nodeSetValue(cv, key: "ProductName", .string(productName))
            try g.nodeSetValue(cv, key: "CurrentMajorVersionNumber", .dword(10))
            try g.nodeSetValue(cv, key: "CurrentMinorVersionNumber", .dword(0))
            try g.nodeSetValue(cv, key: "CurrentVersion", .string("6.3"))
            try g.nodeSetValue(cv, key: "CurrentBuildNumber", .string("19045"))
            try g.nodeSetValue(cv, key: "InstallationType", .string("Client"))
            try g.nodeSetValue(app, key: "DisplayName", .string("LCM Test Application"))
            try g.nodeSetValue(app, key: "DisplayVersion", .string("1.2.3"))
            try g.nodeSetValue(app, key: "Publisher", .string("lcm"))
        }
        try g.withHive("/Windows/System32/config/SYSTEM", write: true) { g in
            guard let select = try g.node(atPath: "Select", create: true),
                  let tcpip = try g.node(atPath: "ControlSet001\\Services\\Tcpip\\Parameters", create: true),
                  let mounted = try g.node(atPath: "MountedDevices", create: true)
            else { throw ToolError(description: "cannot create SYSTEM keys") }
            try g.nodeSetValue(select, key: "Current", .dword(1))
            try g.nodeSetValue(tcpip, key: "Hostname", .string(hostname))
            let volume = Array("DMIO:ID:".utf8) + guidBytes(Appliance.partitionGUID)
            try g.nodeSetValue(mounted, key: "\\DosDevices\\C:", .binary(volume))
        }
    }

    /// A PE32+ x86-64 header: what `file` needs to call it a 64-bit Windows executable.
    static func peHeader() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 1024)
        func put(_ v: UInt32, _ width: Int, at o: Int) {
            for i in 0..<width { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
        }
        b[0] = 0x4D; b[1] = 0x5A                   // "MZ"
        put(0x80, 4, at: 0x3C)                     // e_lfanew
        b.replaceSubrange(0x80..<0x84, with: Array("PE\0\0".utf8))
        put(0x8664, 2, at: 0x84)                   // machine: x86-64
        put(0xF0, 2, at: 0x94)                     // size of optional header
        put(0x22, 2, at: 0x96)                     // executable, large-address aware
        put(0x20B, 2, at: 0x98)                    // optional header magic: PE32+
        put(3, 2, at: 0x98 + 68)                   // subsystem: console
        return b
    }

    /// A GUID as Windows stores it: first three fields little-endian, the rest as written.
    static func guidBytes(_ guid: String) -> [UInt8] {
        let hex = guid.replacingOccurrences(of: "-", with: "")
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return Array(bytes[0..<4].reversed()) + Array(bytes[4..<6].reversed())
            + Array(bytes[6..<8].reversed()) + Array(bytes[8..<16])
    }
}
