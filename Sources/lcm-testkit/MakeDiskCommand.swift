import ArgumentParser
import Foundation
import LCMTestSupport

extension WindowsDiskSpec.Format: ExpressibleByArgument {}
extension WindowsDiskSpec.Partitioning: ExpressibleByArgument {}
extension WindowsDiskSpec.Architecture: ExpressibleByArgument {}
extension WindowsDiskSpec.Fault: ExpressibleByArgument {}
extension DiskPlacement: ExpressibleByArgument {}
extension StandInDomain.Bus: ExpressibleByArgument {}

/// Builds a Windows-shaped disk (from the cache when it can) for the demo, benchmarks and manual tests.
struct MakeDisk: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-disk",
        abstract: "Build a Windows-shaped test disk.",
        discussion: "Starts from --spec (a JSON WindowsDiskSpec; missing fields take their defaults) or the "
            + "defaults, applies the options given, and writes the image to --output. Images are cached by a "
            + "hash of the spec under --cache ($LCM_TEST_CACHE, else /var/tmp/lcm-test-cache): use an empty "
            + "cache directory to measure a cold build. With --domain-xml, also writes a libvirt domain that "
            + "boots the disk (for --bootable disks).")

    @Option(help: "Where to write the image.") var output: String
    @Option(help: "A JSON file with a WindowsDiskSpec.") var spec: String?
    @Option(help: "qcow2 or raw.") var format: WindowsDiskSpec.Format?
    @Option(help: "gpt or mbr.") var partitioning: WindowsDiskSpec.Partitioning?
    @Option(name: .customLong("size-gib"), help: "Virtual size in GiB.") var sizeGiB: Int?
    @Option(help: "x86_64 or i386.") var architecture: WindowsDiskSpec.Architecture?
    @Option(help: "ProductName, e.g. \"Windows 10 Enterprise\".") var productName: String?
    @Option(help: "EditionID, e.g. Enterprise.") var edition: String?
    @Option(help: "Client or Server.") var installationType: String?
    @Option(help: "Major version number.") var majorVersion: Int?
    @Option(help: "Minor version number.") var minorVersion: Int?
    @Option(help: "Build number.") var buildNumber: Int?
    @Option(help: "Update build revision.") var ubr: Int?
    @Option(help: "Computer name (at most 15 characters).") var computerName: String?
    @Option(help: "TCP/IP host name (default: the computer name).") var hostname: String?
    @Option(help: "The current control set number.") var controlSet: Int?
    @Flag(help: "A generalized (sysprepped) image.") var generalized = false
    @Flag(help: "Install the virtio boot drivers.") var virtio = false
    @Flag(help: "Realistic hive sizes (SOFTWARE >= 60 MiB, SYSTEM >= 15 MiB).") var realistic = false
    @Flag(help: "Bootable under OVMF with the stand-in boot program (GPT).") var bootable = false
    @Option(help: "hibernated, fastStartup, truncatedImage, corruptSoftwareHive, corruptSystemHive, noWindows.")
    var fault: WindowsDiskSpec.Fault?
    @Option(help: "copy or overlay (a qcow2 overlay on the cached image).") var placement: DiskPlacement = .copy
    @Option(help: "The cache directory.") var cache: String?
    @Option(help: "Also write a libvirt domain (OVMF, q35, TCG) that boots the disk to this file.")
    var domainXML: String?
    @Option(help: "The domain's name (with --domain-xml).") var domainName = "lcm-test-disk"
    @Option(help: "The domain's disk bus: virtio, sata or scsi (with --domain-xml).") var bus: StandInDomain.Bus = .virtio
    @Flag(help: "Print the result as JSON.") var json = false
    @Flag(help: "Print the resolved spec as JSON and exit.") var printSpec = false

    func run() throws {
        var spec = try loadSpec() ?? WindowsDiskSpec()
        if let format { spec.format = format }
        if let partitioning { spec.partitioning = partitioning }
        if let sizeGiB { spec.virtualSize = Int64(sizeGiB) << 30 }
        if let architecture { spec.architecture = architecture }
        if let productName { spec.productName = productName }
        if let edition { spec.editionID = edition }
        if let installationType { spec.installationType = installationType }
        if let majorVersion { spec.majorVersion = majorVersion }
        if let minorVersion { spec.minorVersion = minorVersion }
        if let buildNumber { spec.buildNumber = buildNumber }
        if let ubr { spec.ubr = ubr }
        if let computerName { spec.computerName = computerName }
        if let hostname { spec.hostname = hostname }
        if let controlSet { spec.controlSet = controlSet }
        if generalized { spec.generalized = true }
        if virtio { spec.virtioDrivers = true }
        if realistic { spec.realisticSize = true }
        if bootable { spec.bootable = true }
        if let fault { spec.fault = fault }

        if printSpec {
            print(String(decoding: spec.canonicalJSON, as: UTF8.self))
            return
        }
        var progress: (@Sendable (String) -> Void)?
        if !json {
            progress = { message in FileHandle.standardError.write(Data("make-disk: \(message)\n".utf8)) }
        }
        let cacheDirectory = cache.map { URL(fileURLWithPath: $0, isDirectory: true) }
        let builder = WindowsDiskBuilder(cacheDirectory: cacheDirectory, log: progress)
        let start = ContinuousClock.now
        let disk = try builder.build(spec, at: URL(fileURLWithPath: output), placement: placement)
        let elapsed = ContinuousClock.now - start
        let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let result = Result(
            path: disk.url.path, format: disk.format.rawValue, key: disk.cached.key, cached: disk.cached.url.path,
            fromCache: !disk.cached.builtNow, totalSeconds: total, placeSeconds: disk.placeSeconds,
            build: disk.cached.info)
        if let domainXML {
            let xml = StandInDomain.xml(name: domainName, disk: disk.url.path, format: disk.format.rawValue, bus: bus,
                                        consoleLog: disk.url.path + ".console.log")
            try Data(xml.utf8).write(to: URL(fileURLWithPath: domainXML))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            let how = result.fromCache
                ? "from the cache"
                : String(format: "built (appliance launch %.1f s, disk %.1f s)", result.build.launchSeconds, result.build.diskSeconds)
            print(String(format: "%@: %@, %.2f s in all", result.path, how, total))
        }
    }

    private func loadSpec() throws -> WindowsDiskSpec? {
        guard let path = spec else { return nil }
        do {
            return try JSONDecoder().decode(WindowsDiskSpec.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ValidationError("cannot read the spec \(path): \(error)")
        }
    }

    struct Result: Encodable {
        var path: String
        var format: String
        var key: String
        var cached: String
        var fromCache: Bool
        var totalSeconds: Double
        var placeSeconds: Double
        var build: DiskBuildInfo
    }
}
