import Foundation
import LCMKit
import Guestfs
import LCMTestSupport
import Libvirt

/// A set of disks a suite reads, one case per disk.
protocol FixtureDisk: Hashable, Sendable {
    var spec: WindowsDiskSpec { get }
}

/// The disks the integration tests use: one of each kind the builder makes.
enum Variant: String, CaseIterable, Sendable, FixtureDisk {
    case gptQcow2, mbrRaw, server, legacy32, bootable, realistic
    case hibernated, fastStartup, truncated, corruptSoftware, corruptSystem, noWindows

    var spec: WindowsDiskSpec {
        switch self {
        case .gptQcow2:
            return WindowsDiskSpec()
        case .mbrRaw:
            return WindowsDiskSpec {
                $0.format = .raw
                $0.partitioning = .mbr
                $0.productName = "Windows 10 Enterprise"
                $0.editionID = "Enterprise"
                $0.buildNumber = 19045
                $0.ubr = 4651
                $0.displayVersion = "22H2"
                $0.computerName = "LCM-MBR-RAW"
                $0.controlSet = 2
                $0.generalized = true
                $0.virtioDrivers = true
                $0.applications = [WindowsDiskSpec.Application(
                    key: "{90160000-008C-0000-1000-0000000FF1CE}", displayName: "Office 16 Click-to-Run Extensibility Component",
                    version: "16.0.17726.20160", publisher: "Microsoft Corporation",
                    installLocation: "Program Files (x86)\\Microsoft Office", wow64: true)]
                $0.servicingPackages = [
                    .init(name: "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4651.1.11", state: .installPending, kb: "KB5040427"),
                    .init(name: "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4529.1.9", state: .installed, kb: "KB5039211"),
                ]
            }
        case .server:
            return WindowsDiskSpec {
                $0.productName = "Windows Server 2022 Standard"
                $0.hostname = "lcm-srv2022-host"
                $0.editionID = "ServerStandard"
                $0.installationType = "Server"
                $0.buildNumber = 20348
                $0.ubr = 2582
                $0.displayVersion = "21H2"
                $0.computerName = "LCM-SRV2022"
                $0.applications = []
                $0.servicingPackages = []
            }
        case .legacy32:
            return WindowsDiskSpec {
                $0.format = .qcow2
                $0.partitioning = .mbr
                $0.architecture = .i386
                $0.productName = "Windows 7 Professional"
                $0.majorVersion = 6
                $0.minorVersion = 1
                $0.buildNumber = 7601
                $0.ubr = 0
                $0.displayVersion = ""
                $0.computerName = "LCM-WIN7-32"
                $0.virtioDrivers = true
                $0.applications = [WindowsDiskSpec.Application(key: "7-Zip", displayName: "7-Zip 9.20", version: "9.20.00.0",
                                                               publisher: "Igor Pavlov", installLocation: "Program Files\\7-Zip")]
            }
        case .bootable:
            return WindowsDiskSpec {
                $0.bootable = true
                $0.computerName = "LCM-BOOTED"
                $0.controlSet = 2
                $0.queue = [
                    StagedItem(order: 1, name: "KB5040442", kind: .msu, payload: "placeholder update", simulatedExitCode: 3010),
                    StagedItem(order: 2, name: "agent-setup", kind: .cmd, payload: "@echo off\r\necho hello\r\n"),
                    StagedItem(order: 3, name: "broken-app", kind: .msi, payload: "placeholder", simulatedExitCode: 1603),
                ]
            }
        case .realistic:
            return WindowsDiskSpec { $0.realisticSize = true; $0.computerName = "LCM-REALISTIC" }
        case .hibernated:
            return WindowsDiskSpec { $0.fault = .hibernated; $0.computerName = "LCM-HIBERNATED" }
        case .fastStartup:
            return WindowsDiskSpec { $0.fault = .fastStartup; $0.computerName = "LCM-FASTSTART" }
        case .truncated:
            return WindowsDiskSpec { $0.fault = .truncatedImage; $0.computerName = "LCM-TRUNCATED" }
        case .corruptSoftware:
            return WindowsDiskSpec { $0.fault = .corruptSoftwareHive; $0.computerName = "LCM-BADSOFT" }
        case .corruptSystem:
            return WindowsDiskSpec { $0.fault = .corruptSystemHive; $0.computerName = "LCM-BADSYS"; $0.partitioning = .mbr }
        case .noWindows:
            return WindowsDiskSpec { $0.fault = .noWindows; $0.computerName = "LCM-NOWIN" }
        }
    }

    /// Disks virt-inspector must report as Windows with the spec's values. Each costs about 12 s
    /// of inspection under TCG, so the hibernated one (the same as fastStartup to inspection) is
    /// left to the fault tests.
    static let inspectable: [Variant] = [.gptQcow2, .mbrRaw, .server, .legacy32, .bootable, .realistic, .fastStartup]
}

/// What booting the bootable variant did.
struct BootOutcome: Sendable {
    let overlay: URL
    let seconds: Double
    let stoppedByItself: Bool
    let console: String
}

/// One appliance with every disk the tests read (read-only: writes go to a throw-away overlay),
/// plus any other images (such as the overlay the stand-in booted from). Tests take turns on it.
final class VerificationAppliance<Disk: FixtureDisk>: @unchecked Sendable {
    let session: GuestfsSession
    let devices: [Disk: String]
    /// The devices of `extraImages`, in the order given to `launch`.
    let extraDevices: [String]
    private let lock = NSLock()

    private init(session: GuestfsSession, devices: [Disk: String], extraDevices: [String]) {
        self.session = session
        self.devices = devices
        self.extraDevices = extraDevices
    }

    /// Adds `disks` (in order) and then `extraImages` (qcow2) read-only to a new appliance and
    /// launches it under TCG.
    static func launch(_ disks: [(disk: Disk, image: CachedDisk)], extraImages: [URL] = [], name: String) throws
        -> VerificationAppliance {
        // Watched: a TCG appliance can hang (launching or in a call); then the tests using it fail
        // instead of blocking the run. A hung launch is tried once more.
        func launched() throws -> GuestfsSession {
            let g = try GuestfsSession(backendSettings: GuestfsSession.tcgBackendSettings, memsizeMiB: 1024,
                                       callTimeout: 600, launchTimeout: 300)
            for (disk, image) in disks {
                try g.addDrive(path: image.url.path, format: disk.spec.format.rawValue, readonly: true)
            }
            for image in extraImages { try g.addDrive(path: image.path, format: "qcow2", readonly: true) }
            try g.launch()
            return g
        }
        let start = ContinuousClock.now
        let g: GuestfsSession
        do {
            g = try launched()
        } catch let error as GuestfsError where error.errno == ETIMEDOUT {
            print("\(name): verification appliance launch hung (\(error)); trying once more")
            g = try launched()
        }
        print(String(format: "%@: verification appliance launched in %.1f s", name, secondsSince(start)))
        let listed = try g.listDevices()
        return VerificationAppliance(session: g, devices: Dictionary(uniqueKeysWithValues: zip(disks.map(\.disk), listed)),
                                     extraDevices: Array(listed.dropFirst(disks.count)))
    }

    /// Runs `body` alone on the appliance, with nothing mounted before or after.
    func exclusive<T>(_ body: (GuestfsSession) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        try session.umountAll()
        defer { try? session.umountAll() }
        return try body(session)
    }

    func partition(_ disk: Disk, _ role: DiskLayout.Role) -> String {
        devices[disk]! + String(disk.spec.layout.partition(role)!.number)
    }
}

extension VerificationAppliance where Disk == Variant {
    /// The overlay the stand-in booted from.
    var bootedDevice: String { extraDevices[0] }
}

/// The cached images of `disks` (built in one appliance launch when missing), logged as `name`.
func fixtureImages<Disk: FixtureDisk>(_ disks: [Disk], builder: WindowsDiskBuilder, name: String) throws -> [Disk: CachedDisk] {
    let start = ContinuousClock.now
    let images = try builder.images(for: disks.map(\.spec))
    print(String(format: "%@: %d disks ready in %.1f s (%d built now)",
                 name, images.count, secondsSince(start), images.filter(\.builtNow).count))
    return Dictionary(uniqueKeysWithValues: zip(disks, images))
}

/// The fixture's files (the booted overlay, its console log). Statics are never deinitialized,
/// so the directory is removed at exit.
let fixtureScratch: ScratchDirectory = {
    let directory = ScratchDirectory(prefix: "lcm-windows-disks")
    atexit { try? FileManager.default.removeItem(at: fixtureScratch.url) }
    return directory
}()

/// Builds the variants once (one appliance launch, or none when cached), boots the bootable one
/// once, launches the verification appliance once; every test awaits the parts it needs.
actor WindowsDiskFixture {
    static let shared = WindowsDiskFixture()

    let builder = WindowsDiskBuilder(log: { print("windows-disks: \($0)") })
    nonisolated var scratch: ScratchDirectory { fixtureScratch }
    private var buildTask: Task<[Variant: CachedDisk], any Error>?
    private var bootTask: Task<BootOutcome, any Error>?
    private var applianceTask: Task<VerificationAppliance<Variant>, any Error>?

    func disks() async throws -> [Variant: CachedDisk] {
        if buildTask == nil {
            let builder = self.builder
            buildTask = Task {
                try await offThePool { try fixtureImages(Variant.allCases, builder: builder, name: "windows-disks") }
            }
        }
        return try await buildTask!.value
    }

    func boot() async throws -> BootOutcome {
        // The task is stored before any suspension, so concurrent callers share it.
        if bootTask == nil {
            let builder = self.builder
            let directory = scratch.url
            bootTask = Task {
                let disks = try await self.disks()
                // Boot an overlay on the cached image: the boot goes through a backing chain and
                // the cached base stays as built.
                let overlay = try builder.place(disks[.bootable]!, at: directory.appendingPathComponent("booted.qcow2"),
                                                placement: .overlay).url
                return try await offThePool { try Self.bootStandIn(overlay: overlay, directory: directory) }
            }
        }
        return try await bootTask!.value
    }

    func appliance() async throws -> VerificationAppliance<Variant> {
        if applianceTask == nil {
            applianceTask = Task {
                let disks = try await self.disks()
                let booted = try await self.boot()
                return try await offThePool {
                    // A truncated qcow2 is left out: reading past its end fails the whole launch.
                    let variants = Variant.allCases.filter { $0 != .truncated }
                    return try VerificationAppliance.launch(variants.map { ($0, disks[$0]!) }, extraImages: [booted.overlay],
                                                            name: "windows-disks")
                }
            }
        }
        return try await applianceTask!.value
    }

    /// Defines a libvirt domain on `overlay` (OVMF, q35, TCG), starts it, waits up to 120 s for
    /// it to power itself off, and undefines it (NVRAM included).
    static func bootStandIn(overlay: URL, directory: URL) throws -> BootOutcome {
        let connection = try Connection(uri: "qemu:///system")
        let name = "lcmtest-standin-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let console = directory.appendingPathComponent("console.log")
        let xml = StandInDomain.xml(name: name, disk: overlay.path, format: "qcow2", consoleLog: console.path)
        let domain = try connection.defineDomain(xml: xml)
        defer {
            if (try? domain.isActive) == true { try? domain.destroy() }
            try? domain.undefine(removeNVRAM: true, removeTPMState: true)
        }
        let start = ContinuousClock.now
        try domain.start()
        var stopped = false
        while secondsSince(start) < 120 {
            if try domain.state().isStopped { stopped = true; break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let seconds = secondsSince(start)
        print(String(format: "windows-disks: stand-in boot to power-off %.1f s", seconds))
        let text = (try? String(contentsOf: console, encoding: .utf8)) ?? ""
        return BootOutcome(overlay: overlay, seconds: seconds, stoppedByItself: stopped, console: text)
    }
}
