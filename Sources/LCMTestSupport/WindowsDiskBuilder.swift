import Foundation
import Guestfs
import LCMKit

/// How a built disk reaches the caller's path.
public enum DiskPlacement: String, Codable, Sendable, CaseIterable {
    /// An independent copy of the cached image (sparse for raw).
    case copy
    /// A qcow2 overlay whose backing file is the cached image: a few ms, but the cache must stay.
    case overlay
}

/// A cached base image, ready to copy or to back an overlay. Never write to `url`.
public struct CachedDisk: Sendable {
    public let spec: WindowsDiskSpec
    public let key: String
    public let url: URL
    /// True when this call built it (a cache miss).
    public let builtNow: Bool
    public let info: DiskBuildInfo
}

/// What building a cached image cost, stored next to it.
public struct DiskBuildInfo: Codable, Sendable, Equatable {
    public var key: String
    public var builderVersion: Int
    public var createdAt: Date
    /// Disks built in the same appliance launch (they share `launchSeconds`).
    public var batchSize: Int
    /// Starting the libguestfs appliance, shared by the batch (the host generates the hives
    /// meanwhile, so this includes any of that time the launch did not hide).
    public var launchSeconds: Double
    /// Work for this disk alone: its image and partition table, its hives (overlapping the launch),
    /// filesystems and files in the appliance, conversion to qcow2.
    public var diskSeconds: Double
    /// The whole batch, wall clock.
    public var batchSeconds: Double
    public var imageBytes: Int64
    public var softwareHiveBytes: Int
    public var systemHiveBytes: Int
}

/// A disk placed at the caller's path.
public struct BuiltDisk: Sendable {
    public let spec: WindowsDiskSpec
    public let url: URL
    public let placement: DiskPlacement
    public let cached: CachedDisk
    /// Time to place it (copy or overlay), the only cost when the image was cached.
    public let placeSeconds: Double

    public var format: WindowsDiskSpec.Format { placement == .overlay ? .qcow2 : spec.format }
    public var layout: DiskLayout { spec.layout }
}

/// Builds Windows-shaped disks from `WindowsDiskSpec`s and caches them by a hash of the spec.
///
/// All disks missing from the cache in one call are built in a single libguestfs appliance
/// launch (the launch costs 10-25 s under TCG, a disk 2-4 s more, a realistic-size one about 10 s
/// more). The appliance uses TCG unless `LCM_TEST_ACCEL=kvm`. Hives are generated
/// on the host by `RegistryHive.build` from `WindowsRegistryContent` (hivex cannot create a hive),
/// partition tables are written by `DiskLayout`, then the appliance makes the filesystems and
/// copies the files in; qcow2 images are converted from the raw result.
///
/// The cache is `$LCM_TEST_CACHE` or `/var/tmp/lcm-test-cache` unless given: `disks/<key>.<ext>`
/// with `disks/<key>.json` (spec and build costs), `standin/` (the boot program),
/// `locks/` (one lock per key, so concurrent test processes build each disk once).
public final class WindowsDiskBuilder: Sendable {
    /// Part of every cache key: bump when the builder's output changes for the same spec.
    public static let builderVersion = 1

    public let cacheDirectory: URL
    private let log: (@Sendable (String) -> Void)?

    public init(cacheDirectory: URL? = nil, log: (@Sendable (String) -> Void)? = nil) {
        self.cacheDirectory = cacheDirectory ?? Self.defaultCacheDirectory
        self.log = log
    }

    /// `$LCM_TEST_CACHE`, else `/var/tmp/lcm-test-cache`.
    public static var defaultCacheDirectory: URL {
        let path = ProcessInfo.processInfo.environment["LCM_TEST_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
        return URL(fileURLWithPath: path ?? "/var/tmp/lcm-test-cache", isDirectory: true)
    }

    /// The cache key of `spec`.
    public func cacheKey(for spec: WindowsDiskSpec) throws -> String {
        var material = Data("lcm-windows-disk v\(Self.builderVersion)\n".utf8)
        material += spec.canonicalJSON
        if spec.bootable {
            material += Data("\nstandin \(try StandInBootProgram.Inputs.discover().key)".utf8)
        }
        return StableHash.hex128(material)
    }

    // MARK: Public entry points

    /// Builds `spec` (or takes it from the cache) and places it at `destination`.
    @discardableResult
    public func build(_ spec: WindowsDiskSpec, at destination: URL, placement: DiskPlacement = .copy) throws -> BuiltDisk {
        try build([(spec, destination)], placement: placement)[0]
    }

    /// Builds every spec missing from the cache in one appliance launch, then places each disk.
    public func build(_ requests: [(spec: WindowsDiskSpec, destination: URL)], placement: DiskPlacement = .copy) throws -> [BuiltDisk] {
        let cached = try images(for: requests.map(\.spec))
        return try zip(requests, cached).map { request, image in
            try place(image, at: request.destination, placement: placement)
        }
    }

    /// The cached images for `specs` (same order), building the missing ones in one launch.
    public func images(for specs: [WindowsDiskSpec]) throws -> [CachedDisk] {
        for spec in specs { try spec.validate() }
        let keys = try specs.map { try cacheKey(for: $0) }
        var results: [String: CachedDisk] = [:]
        for (spec, key) in zip(specs, keys) {
            if let hit = try cachedImage(spec: spec, key: key) { results[key] = hit }
        }
        var missing: [(spec: WindowsDiskSpec, key: String)] = []
        for (spec, key) in zip(specs, keys) where results[key] == nil && !missing.contains(where: { $0.key == key }) {
            missing.append((spec, key))
        }
        if !missing.isEmpty {
            try FileManager.default.createDirectory(at: directory("locks"), withIntermediateDirectories: true)
            // Sorted order, so two processes locking overlapping sets cannot deadlock.
            let locks = missing.map(\.key).sorted().map { FileLock(path: directory("locks").appendingPathComponent("\($0).lock").path) }
            for lock in locks {
                guard try lock.lock(timeout: 1800) else {
                    throw WindowsDiskError.buildFailed("another process holds \(lock.path) for more than 30 minutes")
                }
            }
            defer { locks.forEach { $0.unlock() } }
            // Another process may have built some while this one waited.
            var stillMissing: [(spec: WindowsDiskSpec, key: String)] = []
            for item in missing {
                if let hit = try cachedImage(spec: item.spec, key: item.key) { results[item.key] = hit } else { stillMissing.append(item) }
            }
            for built in try buildBatch(stillMissing) { results[built.key] = built }
        }
        return keys.map { results[$0]! }
    }

    /// Copies (or overlays) a cached image to `destination`, replacing what is there.
    public func place(_ image: CachedDisk, at destination: URL, placement: DiskPlacement = .copy) throws -> BuiltDisk {
        let start = ContinuousClock.now
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        switch placement {
        case .copy:
            try HostTool.run("cp", ["--reflink=auto", "--sparse=always", image.url.path, destination.path])
        case .overlay:
            guard image.spec.format == .qcow2, image.spec.fault != .truncatedImage else {
                throw WindowsDiskError.invalidSpec("only intact qcow2 images can back an overlay")
            }
            try HostTool.run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", image.url.path, "-F", "qcow2", destination.path])
        }
        return BuiltDisk(spec: image.spec, url: destination, placement: placement, cached: image,
                         placeSeconds: seconds(since: start))
    }

    // MARK: Cache

    private func directory(_ name: String) -> URL { cacheDirectory.appendingPathComponent(name, isDirectory: true) }

    private func imageURL(_ spec: WindowsDiskSpec, _ key: String) -> URL {
        directory("disks").appendingPathComponent("\(key).\(spec.format.fileExtension)")
    }

    private func infoURL(_ key: String) -> URL { directory("disks").appendingPathComponent("\(key).json") }

    private func cachedImage(spec: WindowsDiskSpec, key: String) throws -> CachedDisk? {
        let image = imageURL(spec, key)
        // The metadata is written last: an image without it is not finished.
        guard FileManager.default.fileExists(atPath: image.path),
              let data = try? Data(contentsOf: infoURL(key)),
              let record = try? JSONDecoder.fixtures.decode(CacheRecord.self, from: data)
        else { return nil }
        return CachedDisk(spec: spec, key: key, url: image, builtNow: false, info: record.info)
    }

    struct CacheRecord: Codable {
        var spec: WindowsDiskSpec
        var info: DiskBuildInfo
    }

    // MARK: Building

    /// One disk being built: its staging files and timings.
    private final class Job {
        let spec: WindowsDiskSpec
        let key: String
        let directory: URL
        var raw: URL { directory.appendingPathComponent("disk.raw") }
        var seconds: Double = 0
        var softwareBytes = 0
        var systemBytes = 0
        var files: [String: URL] = [:]

        init(spec: WindowsDiskSpec, key: String, directory: URL) {
            self.spec = spec
            self.key = key
            self.directory = directory
        }
    }

    private func buildBatch(_ items: [(spec: WindowsDiskSpec, key: String)]) throws -> [CachedDisk] {
        guard !items.isEmpty else { return [] }
        let batchStart = ContinuousClock.now
        removeAbandonedWork()
        let work = directory("tmp").appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try FileManager.default.createDirectory(at: directory("disks"), withIntermediateDirectories: true)

        let jobs = try items.enumerated().map { index, item -> Job in
            let job = Job(spec: item.spec, key: item.key, directory: work.appendingPathComponent(String(index)))
            try FileManager.default.createDirectory(at: job.directory, withIntermediateDirectories: true)
            let start = ContinuousClock.now
            try createImage(job)
            job.seconds += seconds(since: start)
            return job
        }

        // The appliance boots while the host generates the hives: the two overlap.
        log?("launching the appliance for \(jobs.count) disk(s)")
        let launchStart = ContinuousClock.now
        let g = try GuestfsSession(backendSettings: LCMRunner.testAccelerator == "kvm" ? [] : GuestfsSession.tcgBackendSettings,
                                   memsizeMiB: 1024, callTimeout: 1800)
        defer { g.close() }
        for job in jobs { try g.addDrive(path: job.raw.path, format: "raw") }
        let launch = BackgroundWork { try g.launch() }
        let bootFiles = items.contains(where: { $0.spec.bootable })
            ? try StandInBootProgram.espFiles(cacheDirectory: cacheDirectory) : []
        for job in jobs {
            let start = ContinuousClock.now
            try prepareFiles(job)
            job.seconds += seconds(since: start)
        }
        try launch.wait()
        let launchSeconds = seconds(since: launchStart)
        let devices = try g.listDevices()
        for (job, device) in zip(jobs, devices) {
            let start = ContinuousClock.now
            log?("populating \(device) (\(job.spec.partitioning.rawValue), \(job.spec.format.rawValue))")
            try populate(job, on: g, device: device, bootFiles: bootFiles)
            job.seconds += seconds(since: start)
        }
        try g.shutdown()
        g.close()

        var built: [CachedDisk] = []
        for job in jobs {
            let start = ContinuousClock.now
            let image = imageURL(job.spec, job.key)
            let staged = job.directory.appendingPathComponent("image.\(job.spec.format.fileExtension)")
            switch job.spec.format {
            case .raw:
                try FileManager.default.moveItem(at: job.raw, to: staged)
            case .qcow2:
                try HostTool.run("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1",
                                              job.raw.path, staged.path])
            }
            if job.spec.fault == .truncatedImage {
                let handle = try FileHandle(forUpdating: staged)
                let length = try handle.seekToEnd()
                try handle.truncate(atOffset: length / 2)
                try handle.close()
            }
            try? FileManager.default.removeItem(at: image)
            try FileManager.default.moveItem(at: staged, to: image)
            job.seconds += seconds(since: start)
            let size = (try FileManager.default.attributesOfItem(atPath: image.path)[.size] as? NSNumber)?.int64Value ?? 0
            let info = DiskBuildInfo(
                key: job.key, builderVersion: Self.builderVersion, createdAt: Date(), batchSize: jobs.count,
                launchSeconds: launchSeconds, diskSeconds: job.seconds, batchSeconds: seconds(since: batchStart),
                imageBytes: size, softwareHiveBytes: job.softwareBytes, systemHiveBytes: job.systemBytes)
            let record = try JSONEncoder.fixtures.encode(CacheRecord(spec: job.spec, info: info))
            try record.write(to: infoURL(job.key), options: .atomic)
            built.append(CachedDisk(spec: job.spec, key: job.key, url: image, builtNow: true, info: info))
        }
        log?("built \(jobs.count) disk(s) in \(String(format: "%.1f", seconds(since: batchStart))) s")
        return built
    }

    /// Host-side work: the hives and other files, into the staging directory.
    private func prepareFiles(_ job: Job) throws {
        let spec = job.spec
        func stage(_ name: String, _ bytes: [UInt8]) throws {
            let url = job.directory.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            job.files[name] = url
        }
        try stage("BCD", RegistryHive.build(root: WindowsRegistryContent.bootConfiguration()))
        // An encrypted Windows volume gets no files, so no hives either.
        if spec.hasWindows && !spec.windowsVolumeIsEncrypted {
            let start = ContinuousClock.now
            var software = WindowsRegistryContent.software(spec)
            var system = WindowsRegistryContent.system(spec)
            if spec.realisticSize {
                RealisticRegistryFiller.fillSoftware(&software, seed: spec.identitySeed)
                RealisticRegistryFiller.fillSystem(&system, controlSet: spec.controlSetName, seed: spec.identitySeed ^ 1)
            }
            var softwareBytes = RegistryHive.build(root: software)
            var systemBytes = RegistryHive.build(root: system)
            job.softwareBytes = softwareBytes.count
            job.systemBytes = systemBytes.count
            if spec.realisticSize && (softwareBytes.count < RealisticRegistryFiller.softwareMinimumSize
                                      || systemBytes.count < RealisticRegistryFiller.systemMinimumSize) {
                throw WindowsDiskError.buildFailed("realistic hives came out too small (\(softwareBytes.count), \(systemBytes.count) bytes)")
            }
            log?(String(format: "%@: hives generated in %.1f s (SOFTWARE %.2f MiB, SYSTEM %.2f MiB)", spec.computerName,
                        seconds(since: start), Double(softwareBytes.count) / 1_048_576, Double(systemBytes.count) / 1_048_576))
            if spec.fault == .corruptSoftwareHive { Self.corrupt(&softwareBytes) }
            if spec.fault == .corruptSystemHive { Self.corrupt(&systemBytes) }
            try stage("SOFTWARE", softwareBytes)
            try stage("SYSTEM", systemBytes)
            for name in ["SAM", "SECURITY", "DEFAULT"] {
                try stage(name, RegistryHive.build(root: WindowsRegistryContent.placeholder(name)))
            }
        }
    }

    /// Removes work directories of builds killed midway (a SIGKILL skips the cleanup) once they
    /// are old enough that no running build can own them.
    private func removeAbandonedWork() {
        let fm = FileManager.default
        let entries = (try? fm.contentsOfDirectory(at: directory("tmp"), includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        for entry in entries {
            let modified = (try? entry.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate ?? Date()
            if modified.timeIntervalSinceNow < -6 * 3600 { try? fm.removeItem(at: entry) }
        }
    }

    /// The sparse raw image with its partition table.
    private func createImage(_ job: Job) throws {
        let spec = job.spec
        guard FileManager.default.createFile(atPath: job.raw.path, contents: nil) else {
            throw WindowsDiskError.buildFailed("cannot create \(job.raw.path)")
        }
        let handle = try FileHandle(forWritingTo: job.raw)
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(spec.virtualSize))
        var writes = spec.layout.tableWrites
        if spec.windowsVolumeIsEncrypted {
            // Written here rather than in the appliance: the volume gets no filesystem at all,
            // only the BitLocker header, metadata blocks and "ciphertext".
            let windows = spec.layout.windowsPartition
            writes += BitLockerVolume.writes(volumeSize: windows.size, hiddenSectors: UInt32(windows.startSector),
                                             seed: spec.identitySeed, description: BitLockerVolume.description(for: spec))
                .map { (windows.startOffset + $0.offset, $0.bytes) }
        }
        for write in writes {
            try handle.seek(toOffset: UInt64(write.offset))
            try handle.write(contentsOf: Data(write.bytes))
        }
    }

    /// Damages a hive the way a torn write would: a wrong base block checksum and a broken
    /// first hive bin header.
    static func corrupt(_ hive: inout [UInt8]) {
        hive[508] ^= 0x5A
        hive.replaceSubrange(4096..<4100, with: Array("nibh".utf8))
    }

    /// Appliance work for one disk: filesystems and files.
    private func populate(_ job: Job, on g: GuestfsSession, device: String, bootFiles: [(espPath: String, file: URL)]) throws {
        let spec = job.spec
        for partition in spec.layout.partitions {
            let dev = device + String(partition.number)
            switch partition.role {
            case .microsoftReserved:
                continue
            case .efiSystem:
                try g.mkfs("vfat", device: dev)
                try g.mount(dev, at: "/")
                try g.mkdirP("/EFI/Microsoft/Boot")
                try g.upload(job.files["BCD"]!.path, to: "/EFI/Microsoft/Boot/BCD")
                if spec.bootable {
                    for (espPath, file) in bootFiles {
                        try g.mkdirP((espPath as NSString).deletingLastPathComponent)
                        try g.upload(file.path, to: espPath)
                    }
                }
            case .systemReserved:
                try g.mkfs("ntfs", device: dev, label: "System Reserved")
                try g.mount(dev, at: "/")
                try g.mkdirP("/Boot")
                try g.upload(job.files["BCD"]!.path, to: "/Boot/BCD")
                try g.write("/bootmgr", [UInt8](repeating: 0, count: 512))
            case .windows:
                // createImage already made it look encrypted.
                if spec.windowsVolumeIsEncrypted { continue }
                try g.mkfs("ntfs", device: dev)
                try g.mount(dev, at: "/")
                if spec.hasWindows {
                    try populateWindows(job, on: g)
                } else {
                    try g.mkdirP("/Users/Public/Documents")
                    try g.writeString("/Users/Public/Documents/notes.txt", "A data volume without Windows.\r\n")
                    try g.mkdirP("/Data")
                    try g.write("/Data/archive.bin", [UInt8](repeating: 0xA5, count: 4096))
                }
            }
            try g.umountAll()
        }
    }

    private func populateWindows(_ job: Job, on g: GuestfsSession) throws {
        let spec = job.spec
        let is64 = spec.architecture == .x86_64
        var directories = ["/Windows/System32/config", "/Windows/System32/drivers", "/Windows/Temp",
                           "/Program Files/Common Files", "/ProgramData/Microsoft", "/Users/Public/Documents",
                           "/Users/Default"]
        if is64 { directories += ["/Windows/SysWOW64", "/Program Files (x86)"] }
        for dir in directories { try g.mkdirP(dir) }
        try g.write("/Windows/System32/cmd.exe", PEImage.executable(spec.architecture))
        try g.write("/Windows/System32/ntoskrnl.exe", PEImage.executable(spec.architecture, subsystem: .native))
        try g.write("/Windows/explorer.exe", PEImage.executable(spec.architecture, subsystem: .windowsGUI))
        for hive in ["SOFTWARE", "SYSTEM", "SAM", "SECURITY", "DEFAULT"] {
            try g.upload(job.files[hive]!.path, to: "/Windows/System32/config/\(hive)")
        }
        for app in spec.applications where !app.installLocation.isEmpty {
            let dir = "/" + app.installLocation.replacingOccurrences(of: "\\", with: "/")
            try g.mkdirP(dir)
            try g.write(dir + "/uninstall.exe", PEImage.executable(app.wow64 ? .i386 : spec.architecture, subsystem: .windowsGUI))
        }
        if spec.virtioDrivers {
            try g.mkdirP("/Windows/Drivers/VirtIO")
            for (service, ids) in WindowsRegistryContent.virtioBootDrivers {
                let driver = PEImage.executable(spec.architecture, subsystem: .native)
                try g.write("/Windows/System32/drivers/\(service).sys", driver)
                try g.write("/Windows/Drivers/VirtIO/\(service).sys", driver)
                let hardware = ids.map { "%\(service).DeviceDesc% = \(service)_inst, PCI\\\($0)" }.joined(separator: "\r\n")
                try g.writeString("/Windows/Drivers/VirtIO/\(service).inf",
                                  "[Version]\r\nSignature=\"$WINDOWS NT$\"\r\nClass=SCSIAdapter\r\nProvider=%RHEL%\r\n\r\n[Standard.NTamd64]\r\n\(hardware)\r\n")
            }
        }
        if !spec.queue.isEmpty { try BootRunnerContract.stage(spec.queue, on: g) }
        if spec.fault == .leftoverAnswerFile {
            let path = WindowsDiskSpec.leftoverAnswerFilePath
            try g.mkdirP(String(path[..<path.lastIndex(of: "/")!]))
            try g.writeString(path, UnattendAnswerFile.xml(for: spec))
        }
        if spec.fault == .entityAnswerFile {
            let path = WindowsDiskSpec.leftoverAnswerFilePath
            try g.mkdirP(String(path[..<path.lastIndex(of: "/")!]))
            try g.writeString(path, UnattendAnswerFile.entityXML(for: spec))
        }
        if spec.fault == .hibernated || spec.fault == .fastStartup {
            // ntfs-3g reads the first 4 KiB of hiberfil.sys and refuses a read-write mount when
            // they start with "hibr" or "HIBR".
            var header = [UInt8](repeating: 0, count: 64 << 10)
            header.replaceSubrange(0..<4, with: Array("HIBR".utf8))
            try g.write("/hiberfil.sys", header)
        }
    }

    private func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Work on a thread of its own, joined with `wait`.
final class BackgroundWork: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var failure: (any Error)?

    init(_ body: @escaping @Sendable () throws -> Void) {
        Thread.detachNewThread { [self] in
            do { try body() } catch { failure = error }
            done.signal()
        }
    }

    func wait() throws {
        done.wait()
        if let failure { throw failure }
    }
}

extension JSONEncoder {
    static var fixtures: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

extension JSONDecoder {
    static var fixtures: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
