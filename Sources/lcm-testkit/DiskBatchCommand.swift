import ArgumentParser
import Foundation
import Guestfs
import LCMKit

/// Disk engine helpers for the crash, remote (mount namespace) and benchmark tests.
struct DiskBatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disk-batch", abstract: "Disk engine helpers for tests and benchmarks.",
        subcommands: [DiskBatchRun.self, DiskBatchMakeOverlays.self], defaultSubcommand: DiskBatchRun.self)
}

/// `disk-batch [run]`: the engine over the volumes of a JSON file, as a journaled `disk-batch`
/// operation. Prints one JSON report on stdout.
///
/// The work per disk: mount the largest NTFS partition (the Windows volume), then optionally read
/// a file, write a file, and set a string value in the SOFTWARE hive, all named after the disk.
struct DiskBatchRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the disk engine over volumes listed in a JSON file.")

    @Option(help: "lcm home.") var home: String
    @Option(help: "The batch's object id in the journal (a rerun with the same id recovers a dead run).")
    var object: String = "testkit"
    @Option(help: "A JSON file holding an array of DiskVolume.") var volumes: String
    @Option(help: "tcg, kvm or auto.") var accel: String = "tcg"
    @Option(help: "Drives per appliance launch.") var drivesPerLaunch: Int?
    @Option(help: "Appliance memory in MiB.") var memsizeMiB: Int?
    @Option(help: "Appliance vCPUs.") var smp: Int?
    @Flag(help: "Open every disk read-only.") var readOnly = false
    @Option(help: "File to read on the Windows volume, if it is there (e.g. ProgramData/lcm/boot.log).") var readFile: String?
    @Option(help: "File to write on the Windows volume: '<marker> <disk name>'.") var writeFile: String?
    @Option(help: "Value to set under SOFTWARE\\LCMBatch: '<marker> <disk name>'.") var hiveValue: String?
    @Option(help: "Value to read back under SOFTWARE\\LCMBatch.") var readHiveValue: String?
    @Option(help: "Marker text written.") var marker: String = "lcm-marker"
    @Option(help: "Mount this partition number instead of probing for the largest NTFS one.") var partition: Int?
    @Flag(help: "Print the plan and exit.") var planOnly = false

    struct Output: Codable {
        struct Disk: Codable {
            var name: String
            var ok: Bool
            var failure: DiskFailure?
            var read: String?
            var hive: String?
            /// Seconds the work spent mounting and in the hive (open, edit, commit, close).
            var mountSeconds: Double?
            var hiveSeconds: Double?
        }
        var plan: DiskPlan
        var launches: Int
        var failedLaunches: Int
        var transfer: TransferTotals
        var secondsPreparing: Double
        var secondsLaunching: Double
        var secondsWorking: Double
        var secondsFinishing: Double
        var secondsTotal: Double
        var disks: [Disk]
    }

    struct Read: Sendable {
        var file: String?
        var hive: String?
        var mountSeconds = 0.0
        var hiveSeconds = 0.0
    }

    func run() throws {
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
        let list = try JSONDecoder().decode([DiskVolume].self, from: Data(contentsOf: URL(fileURLWithPath: volumes)))
        var options = DiskEngine.Options(backendSettings: DiskEngine.Options.backendSettings(for: Accelerator(rawValue: accel) ?? .tcg),
                                         drivesPerLaunch: drivesPerLaunch, memsizeMiB: memsizeMiB, readOnly: readOnly)
        options.lockWait = 10
        options.failPoints = FailPoints(armed: ProcessInfo.processInfo.environment["LCM_FAILPOINT"])
        if let smp { options.smp = smp }
        if planOnly {
            let engine = DiskEngine(inventory: inventory, recorder: NoRecorder(), options: options)
            print(String(decoding: try JSONEncoder().encode(try engine.plan(list)), as: UTF8.self))
            return
        }
        let (readFile, writeFile, hiveValue, readHiveValue, marker, partition) = (
            self.readFile, self.writeFile, self.hiveValue, self.readHiveValue, self.marker, self.partition)
        let report = try DiskBatch.run(inventory: inventory, objectID: object, volumes: list, options: options) { disk in
            let g = disk.session
            let clock = ContinuousClock()
            var read = Read()
            let mountStart = clock.now
            if let partition {
                try g.mount("\(disk.device)\(partition)", at: "/", options: "big_writes,noatime")
            } else {
                try mountWindows(disk)
            }
            read.mountSeconds = seconds(clock.now - mountStart)
            // A file that is not there reads as nothing (not every disk of a batch has it).
            if let readFile, let path = try? g.caseSensitivePath("/" + readFile), try g.exists(path) {
                read.file = try g.readString(path)
            }
            if let writeFile { try g.writeString("/" + writeFile, "\(marker) \(disk.volume.name)\n") }
            if hiveValue != nil || readHiveValue != nil {
                let hiveStart = clock.now
                defer { read.hiveSeconds = seconds(clock.now - hiveStart) }
                let software = try g.caseSensitivePath("/Windows/System32/config/SOFTWARE")
                try g.withHive(software, write: hiveValue != nil) { g in
                    if let hiveValue {
                        guard let key = try g.node(atPath: "LCMBatch", create: true) else { throw DiskWorkError(description: "cannot create SOFTWARE\\LCMBatch") }
                        try g.nodeSetValue(key, key: hiveValue, .string("\(marker) \(disk.volume.name)"))
                    }
                    if let readHiveValue, let key = try g.node(atPath: "LCMBatch"),
                       case .string(let text)? = try g.value(key, readHiveValue) {
                        read.hive = text
                    }
                }
            }
            return read
        }
        let output = Output(
            plan: report.plan, launches: report.launches, failedLaunches: report.failedLaunches, transfer: report.transfer,
            secondsPreparing: report.secondsPreparing, secondsLaunching: report.secondsLaunching,
            secondsWorking: report.secondsWorking, secondsFinishing: report.secondsFinishing,
            secondsTotal: report.secondsTotal,
            disks: report.results.map {
                Output.Disk(name: $0.volume.name, ok: $0.failure == nil, failure: $0.failure,
                            read: $0.value?.file, hive: $0.value?.hive,
                            mountSeconds: $0.value?.mountSeconds, hiveSeconds: $0.value?.hiveSeconds)
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(output), as: UTF8.self))
        if !report.failed.isEmpty { throw ExitCode(LCMExitCode.partialFailure.rawValue) }
    }
}

/// `disk-batch make-overlays`: N overlays on one base, LUKS-encrypted with one new desktop key
/// each (or plain), and the JSON volume list for `run`.
struct DiskBatchMakeOverlays: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-overlays", abstract: "Create overlays on a base image and list them as volumes.")

    @Option(help: "lcm home (holds the keys).") var home: String
    @Option(help: "The base image (qcow2).") var base: String
    @Option(help: "Directory for the overlays.") var directory: String
    @Option(help: "How many overlays.") var count: Int
    @Option(help: "Name prefix.") var prefix: String = "disk"
    @Flag(help: "LUKS-encrypt each overlay with a key of its own.") var encrypted = false
    @Option(help: "Where to write the volume list.") var output: String

    func run() throws {
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var volumes: [DiskVolume] = []
        for index in 0..<count {
            let name = "\(prefix)\(index)"
            let path = "\(directory)/\(name).qcow2"
            unlink(path)
            if encrypted {
                let key = try DesktopKey.create(ownerKind: "bench", ownerID: name, inventory: inventory)
                try QemuImage.createEncrypted(path: path, virtualSize: nil, backing: (base, "qcow2"),
                                              passphrase: try DesktopKey.passphrase(keyID: key.id, inventory: inventory))
                volumes.append(.file(path, name: name, keyID: key.id))
            } else {
                try QemuImage.createPlain(path: path, virtualSize: nil, backing: (base, "qcow2"))
                volumes.append(.file(path, name: name))
            }
        }
        try JSONEncoder().encode(volumes).write(to: URL(fileURLWithPath: output))
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Mounts the disk's Windows volume (its largest NTFS partition) at `/`.
func mountWindows(_ disk: DiskAccess) throws {
    let g = disk.session
    var best: (device: String, size: Int64)?
    for partition in try disk.partitions() where (try? g.vfsType(partition)) == "ntfs" {
        let size = try g.blockdevGetSize64(partition)
        if best == nil || size > best!.size { best = (partition, size) }
    }
    guard let best else { throw DiskWorkError(description: "\(disk.volume.name): no NTFS partition") }
    try g.mount(best.device, at: "/", options: "big_writes,noatime")
}

struct DiskWorkError: Error, CustomStringConvertible {
    var description: String
}

/// For `--plan-only`, which records nothing.
final class NoRecorder: LeftoverRecorder, @unchecked Sendable {
    func record(_ resource: LeftoverResource) throws -> LeftoverToken { LeftoverToken(id: 0) }
    func release(_ token: LeftoverToken) throws {}
}
