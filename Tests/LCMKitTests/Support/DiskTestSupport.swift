import Foundation
import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// What the disk engine's integration tests need: root (libvirt secrets, qemu:///system, mount
/// namespaces), libvirtd, qemu-nbd and a libguestfs appliance. `LCM_SKIP_APPLIANCE_TESTS=1` skips them.
enum DiskTestEnvironment {
    static let enabled: Bool = {
        let environment = ProcessInfo.processInfo.environment
        return environment["LCM_SKIP_APPLIANCE_TESTS"] != "1" && geteuid() == 0
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-nbd")
            && FileManager.default.fileExists(atPath: "/var/run/libvirt/libvirt-sock")
    }()

    /// Engine options for tests: this machine's KVM hangs, so TCG unless LCM_TEST_ACCEL says otherwise.
    static var options: DiskEngine.Options {
        var options = DiskEngine.Options(
            backendSettings: DiskEngine.Options.backendSettings(for: Accelerator(rawValue: LCMRunner.testAccelerator) ?? .tcg))
        options.lockWait = 1
        return options
    }

    static var testkit: URL { BuiltProducts.executable("lcm-testkit") }
}

/// Windows-shaped base images, built once (or taken from the builder's cache) and shared.
final class DiskFixtures: @unchecked Sendable {
    static let shared = DiskFixtures()
    private let lock = NSLock()
    private var images: [String: Result<CachedDisk, Error>] = [:]
    let builder = WindowsDiskBuilder(log: { print("disk-fixtures: \($0)") })

    /// A GPT qcow2 Windows 11-shaped disk with small hives.
    static let baseSpec = WindowsDiskSpec { $0.computerName = "LCM-ENGINE" }
    /// The same, bootable under OVMF with the stand-in program.
    static let bootableSpec = WindowsDiskSpec { $0.computerName = "LCM-ENCBOOT"; $0.bootable = true }

    func image(_ spec: WindowsDiskSpec) throws -> CachedDisk {
        lock.lock()
        defer { lock.unlock() }
        let key = String(decoding: spec.canonicalJSON, as: UTF8.self)
        if let cached = images[key] { return try cached.get() }
        let result = Result { try builder.images(for: [spec])[0] }
        images[key] = result
        return try result.get()
    }
}

/// Small helpers shared by the disk tests.
enum DiskTestTools {
    static func inventory(_ scratch: ScratchDirectory) throws -> Inventory {
        try Inventory.open(home: LCMHome(url: scratch.file("home")))
    }

    /// Creates an encrypted overlay on `base` with the key's escrowed passphrase.
    static func encryptedOverlay(at path: String, base: String, keyID: String, inventory: Inventory) throws {
        let passphrase = try DesktopKey.passphrase(keyID: keyID, inventory: inventory)
        try QemuImage.createEncrypted(path: path, virtualSize: nil, backing: (base, "qcow2"), passphrase: passphrase)
    }

    static func plainOverlay(at path: String, base: String) throws {
        try QemuImage.createPlain(path: path, virtualSize: nil, backing: (base, "qcow2"))
    }

    /// True when `text` occurs in the raw bytes of the file (the plaintext test).
    static func fileContains(_ path: String, _ text: String) throws -> Bool {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.range(of: Data(text.utf8)) != nil
    }

    /// Processes whose command line mentions `fragment` (leftover qemu-nbd or appliance qemu).
    static func processes(mentioning fragment: String) -> [(pid: Int32, command: String)] {
        ProcessTable.processes(mentioning: fragment)
    }

    /// What lies in `$LCM_HOME/run` (sockets, key files, batch directories).
    static func runDirectoryEntries(_ inventory: Inventory) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: inventory.home.runURL.path)) ?? []
    }

    /// `qemu-img check` of an image (with the key for an encrypted one).
    static func checkClean(_ path: String, keyID: String?, inventory: Inventory) throws -> Bool {
        let layers = try QemuImage.info(path: path, forceShare: true)
        if let keyID {
            let chain = layers.map { QemuImage.Layer(path: $0.filename, format: $0.format, encrypted: $0.encrypted) }
            var explicit = chain
            explicit[0].path = path
            let result = try QemuImage.check(path: path, format: "qcow2", imageOptions: QemuImage.imageOptions(chain: explicit),
                                             passphrase: try DesktopKey.passphrase(keyID: keyID, inventory: inventory))
            return result.corruptions == 0 && result.leaks == 0 && result.checkErrors == 0
        }
        let result = try QemuImage.check(path: path, format: layers[0].format)
        return result.corruptions == 0 && result.leaks == 0 && result.checkErrors == 0
    }

    /// Writes the volume list the testkit's disk-batch command reads.
    static func writeVolumes(_ volumes: [DiskVolume], to url: URL) throws {
        try JSONEncoder().encode(volumes).write(to: url)
    }

    /// The testkit's JSON output.
    struct BatchOutput: Decodable {
        struct Disk: Decodable {
            var name: String
            var ok: Bool
            var failure: DiskFailure?
            var read: String?
            var hive: String?
        }
        var launches: Int
        var failedLaunches: Int
        var transfer: TransferTotals
        var secondsTotal: Double
        var disks: [Disk]

        func disk(_ name: String) -> Disk? { disks.first { $0.name == name } }
    }

    static func decode(_ run: ProgramRun) throws -> BatchOutput {
        try JSONDecoder().decode(BatchOutput.self, from: Data(run.stdout.utf8))
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Every test that launches an appliance, boots a domain or touches libvirt secrets runs in this
/// one serialized suite (the test files extend it): on two cores, launches in parallel only slow
/// each other down, and each test counts its own launches.
@Suite("Disk engine (real qemu-nbd, libguestfs, libvirtd)", .serialized, .enabled(if: DiskTestEnvironment.enabled))
struct DiskIntegrationTests {}
