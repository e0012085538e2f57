import Foundation
import LCMKit
#if canImport(FoundationXML)
import FoundationXML
#endif
import Guestfs
import LCMTestSupport
import Testing

/// Every variant of the Windows-shaped disk builder, checked with libguestfs's own tools
/// (virt-inspector, hivexget), ntfs-3g, qemu-img and a real boot under libvirt. The disks come
/// from one appliance launch (or the cache); the tests share one verification appliance.
@Suite("Windows-shaped disks", .enabled(if: applianceTestsEnabled))
struct WindowsDiskTests {
    let fixture = WindowsDiskFixture.shared

    // MARK: Building and caching

    @Test func everyVariantIsBuiltAndCached() async throws {
        let disks = try await fixture.disks()
        #expect(disks.count == Variant.allCases.count)
        let builtNow = disks.values.filter(\.builtNow)
        // Everything built by this run shared one appliance launch.
        #expect(builtNow.allSatisfy { $0.info.batchSize == builtNow.count })
        for variant in Variant.allCases {
            let disk = disks[variant]!
            let info = disk.info
            print(String(format: "windows-disks: %-16@ %@ %5.1f MB  launch %4.1f s  disk %5.1f s  batch %5.1f s (%d disks)%@",
                         variant.rawValue, disk.spec.format.rawValue, Double(info.imageBytes) / 1e6, info.launchSeconds,
                         info.diskSeconds, info.batchSeconds, info.batchSize, disk.builtNow ? "" : "  [cached]"))
            guard variant != .truncated else { continue }
            let json = try runTool("qemu-img", ["info", "--output=json", "-f", disk.spec.format.rawValue, disk.url.path]).stdout
            let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect(object?["format"] as? String == disk.spec.format.rawValue)
            #expect((object?["virtual-size"] as? NSNumber)?.int64Value == disk.spec.virtualSize)
        }

        // Asking again is a cache hit, in a few milliseconds.
        let start = ContinuousClock.now
        let again = try fixture.builder.images(for: [Variant.gptQcow2.spec, Variant.mbrRaw.spec])
        #expect(again.allSatisfy { !$0.builtNow })
        #expect(again.map(\.url) == [disks[.gptQcow2]!.url, disks[.mbrRaw]!.url])
        #expect(secondsSince(start) < 5)
    }

    @Test func cachedImagesAreCopiedOrOverlaid() async throws {
        let disks = try await fixture.disks()
        let dir = try makeTemporaryDirectory("lcm-place")
        defer { try? FileManager.default.removeItem(at: dir) }

        let copy = try fixture.builder.place(disks[.mbrRaw]!, at: dir.appendingPathComponent("copy.img"), placement: .copy)
        let attributes = try FileManager.default.attributesOfItem(atPath: copy.url.path)
        #expect((attributes[.size] as? NSNumber)?.int64Value == Variant.mbrRaw.spec.virtualSize)
        var status = stat()
        #expect(stat(copy.url.path, &status) == 0)
        #expect(Int64(status.st_blocks) * 512 < 1 << 30, "the raw copy stays sparse")

        let overlay = try fixture.builder.place(disks[.gptQcow2]!, at: dir.appendingPathComponent("overlay.qcow2"), placement: .overlay)
        let json = try runTool("qemu-img", ["info", "--output=json", overlay.url.path]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["backing-filename"] as? String == disks[.gptQcow2]!.url.path)
        #expect(overlay.placeSeconds < 2)
        #expect(throws: WindowsDiskError.self) {
            try fixture.builder.place(disks[.mbrRaw]!, at: dir.appendingPathComponent("bad.qcow2"), placement: .overlay)
        }
    }

    // MARK: What libguestfs's own tools see

    /// virt-inspector (not lcm) reports each variant as Windows with exactly the spec's values,
    /// and finds no operating system on the no-Windows disk. Inspection costs about 12 s per
    /// disk under TCG, so two virt-inspector runs share the disks and the two cores.
    @Test func virtInspectorReportsTheSpec() async throws {
        let disks = try await fixture.disks()
        let groups: [[Variant]] = [[.realistic, .gptQcow2, .mbrRaw, .noWindows], [.server, .legacy32, .bootable, .fastStartup]]
        #expect(Set(groups.joined()) == Set(Variant.inspectable + [.noWindows]))
        let start = ContinuousClock.now
        let outputs = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for (index, variants) in groups.enumerated() {
                var arguments = ["--no-icon"]
                for variant in variants {
                    arguments += ["--format=\(variant.spec.format.rawValue)", "-a", disks[variant]!.url.path]
                }
                let command = arguments
                group.addTask {
                    let environment = ["LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"]
                    return (index, try await offThePool { try runTool("virt-inspector", command, environment: environment).stdout })
                }
            }
            var outputs = [String](repeating: "", count: groups.count)
            for try await (index, output) in group { outputs[index] = output }
            return outputs
        }
        print(String(format: "windows-disks: virt-inspector on %d disks (two runs) took %.1f s",
                     groups.joined().count, secondsSince(start)))

        func text(_ node: XMLNode, _ path: String) -> String? {
            (try? node.nodes(forXPath: path))?.first?.stringValue
        }
        for (variants, output) in zip(groups, outputs) {
            let document = try XMLDocument(data: Data(output.utf8))
            let systems = try document.nodes(forXPath: "/operatingsystems/operatingsystem")
            #expect(systems.count == variants.filter { $0 != .noWindows }.count)
            for (index, variant) in variants.enumerated() {
                let spec = variant.spec
                let device = "/dev/sd" + String(UnicodeScalar(UInt8(97 + index)))
                let root = device + String(spec.layout.windowsPartition.number)
                let system = systems.first { text($0, "root") == root }
                if variant == .noWindows {
                    #expect(!systems.contains { text($0, "root")?.hasPrefix(device) == true })
                    continue
                }
                guard let system else {
                    Issue.record("virt-inspector found no system at \(root) (\(variant))")
                    continue
                }
                #expect(text(system, "name") == "windows", "\(variant)")
                #expect(text(system, "distro") == "windows")
                #expect(text(system, "arch") == spec.architecture.rawValue, "\(variant)")
                #expect(text(system, "product_name") == spec.productName, "\(variant)")
                #expect(text(system, "product_variant") == spec.installationType, "\(variant)")
                #expect(text(system, "major_version") == String(spec.majorVersion), "\(variant)")
                #expect(text(system, "minor_version") == String(spec.minorVersion), "\(variant)")
                #expect(text(system, "hostname") == spec.resolvedHostname, "\(variant)")
                #expect(text(system, "windows_systemroot") == "/Windows")
                #expect(text(system, "windows_current_control_set") == spec.controlSetName, "\(variant)")
                #expect(text(system, "drive_mappings/drive_mapping[@name='C']") == root, "\(variant)")
                let applications = (try? system.nodes(forXPath: "applications/application")) ?? []
                let found = Set(applications.map { [text($0, "name"), text($0, "display_name"), text($0, "version"), text($0, "publisher")] })
                let expected = Set(spec.applications.map { [$0.key, $0.displayName, $0.version, $0.publisher] as [String?] })
                #expect(found == expected, "\(variant)")
            }
        }
    }

    /// hivexget (on the hives as downloaded from the disks) reads back every value the spec set.
    @Test func hivexgetReadsBackTheSpec() async throws {
        let appliance = try await fixture.appliance()
        let dir = try makeTemporaryDirectory("lcm-hives")
        defer { try? FileManager.default.removeItem(at: dir) }
        for variant in [Variant.gptQcow2, .mbrRaw, .server, .legacy32, .bootable, .hibernated, .fastStartup] {
            let spec = variant.spec
            let software = dir.appendingPathComponent("\(variant)-SOFTWARE").path
            let system = dir.appendingPathComponent("\(variant)-SYSTEM").path
            try appliance.exclusive { g in
                try g.mountReadOnly(appliance.partition(variant, .windows), at: "/")
                try g.download("/Windows/System32/config/SOFTWARE", to: software)
                try g.download("/Windows/System32/config/SYSTEM", to: system)
                for hive in ["SAM", "SECURITY", "DEFAULT"] {
                    #expect(try g.read("/Windows/System32/config/\(hive)").prefix(4) == ArraySlice("regf".utf8), "\(hive)")
                }
            }
            let cv = WindowsRegistryContent.currentVersionPath
            #expect(try hivexget(software, cv, "ProductName") == spec.productName)
            #expect(try hivexget(software, cv, "EditionID") == spec.editionID)
            #expect(try hivexget(software, cv, "InstallationType") == spec.installationType)
            #expect(try hivexget(software, cv, "CurrentMajorVersionNumber") == String(spec.majorVersion))
            #expect(try hivexget(software, cv, "CurrentMinorVersionNumber") == String(spec.minorVersion))
            #expect(try hivexget(software, cv, "CurrentBuildNumber") == String(spec.buildNumber))
            #expect(try hivexget(software, cv, "UBR") == String(spec.ubr))
            #expect(try hivexget(software, cv, "DisplayVersion") == spec.displayVersion)
            #expect(try hivexget(software, WindowsRegistryContent.setupStatePath, "ImageState") == spec.imageState, "\(variant)")
            for app in spec.applications {
                let parent = app.wow64 && spec.architecture == .x86_64
                    ? WindowsRegistryContent.wow64UninstallPath : WindowsRegistryContent.uninstallPath
                #expect(try hivexget(software, "\(parent)\\\(app.key)", "DisplayName") == app.displayName)
                #expect(try hivexget(software, "\(parent)\\\(app.key)", "DisplayVersion") == app.version)
                #expect(try hivexget(software, "\(parent)\\\(app.key)", "Publisher") == app.publisher)
            }
            for package in spec.servicingPackages {
                #expect(try hivexget(software, "\(WindowsRegistryContent.servicingPackagesPath)\\\(package.name)", "CurrentState")
                        == String(package.state.code), "\(package.name)")
            }
            let pending = spec.servicingPackages.contains { $0.state == .installPending || $0.state == .uninstallPending }
            let rebootKey = try runTool("hivexget", [software, WindowsRegistryContent.servicingRebootPendingPath], check: false)
            #expect((rebootKey.status == 0) == pending, "\(variant): RebootPending")
            let devicePath = try hivexget(software, WindowsRegistryContent.currentVersionWindowsPath, "DevicePath")
            #expect(devicePath.contains("VirtIO") == spec.virtioDrivers)

            let cs = spec.controlSetName
            #expect(try hivexget(system, "Select", "Current") == String(spec.controlSet))
            #expect(try hivexget(system, "\(cs)\\\(WindowsRegistryContent.computerNamePath)", "ComputerName") == spec.computerName)
            #expect(try hivexget(system, "\(cs)\\\(WindowsRegistryContent.tcpipParametersPath)", "Hostname") == spec.resolvedHostname)
            #expect(try hivexget(system, "\(cs)\\\(WindowsRegistryContent.powerPath)", "HiberbootEnabled")
                    == (spec.fault == .fastStartup ? "1" : "0"))
            if spec.controlSet != 1 {
                #expect(try hivexget(system, "ControlSet001\\\(WindowsRegistryContent.computerNamePath)", "ComputerName")
                        == WindowsRegistryContent.staleComputerName)
            }
            #expect(try registryBytes(system, "MountedDevices", "\\DosDevices\\C:") == spec.layout.mountedDevicesValue, "\(variant)")
            if spec.virtioDrivers {
                for (service, ids) in WindowsRegistryContent.virtioBootDrivers {
                    #expect(try hivexget(system, "\(cs)\\Services\\\(service)", "Start") == "0")
                    #expect(try hivexget(system, "\(cs)\\Services\\\(service)", "Type") == "1")
                    #expect(try hivexget(system, "\(cs)\\Services\\\(service)", "Group") == "SCSI miniport")
                    #expect(try hivexget(system, "\(cs)\\Services\\\(service)", "ImagePath") == "system32\\drivers\\\(service).sys")
                    for id in ids {
                        if spec.majorVersion >= 10 {
                            #expect(try runTool("hivexget", [system, "DriverDatabase\\DeviceIds\\PCI\\\(id)"]).stdout.contains("\(service).inf"))
                        } else {
                            #expect(try hivexget(system, "\(cs)\\Control\\CriticalDeviceDatabase\\PCI#\(id)", "Service") == service)
                        }
                    }
                }
            } else {
                #expect(try runTool("hivexget", [system, "\(cs)\\Services\\viostor"], check: false).status != 0)
            }
        }
    }

    /// The realistic variant: hives the size of real ones, still read by libguestfs's hivex.
    @Test func realisticHivesHaveTheSizeOfRealOnes() async throws {
        let disk = try await fixture.disks()[.realistic]!
        print(String(format: "windows-disks: realistic disk: SOFTWARE %.1f MiB, SYSTEM %.1f MiB, disk work %.1f s",
                     Double(disk.info.softwareHiveBytes) / 1_048_576, Double(disk.info.systemHiveBytes) / 1_048_576,
                     disk.info.diskSeconds))
        let appliance = try await fixture.appliance()
        try appliance.exclusive { g in
            try g.mountReadOnly(appliance.partition(.realistic, .windows), at: "/")
            let software = try g.filesize("/Windows/System32/config/SOFTWARE")
            let system = try g.filesize("/Windows/System32/config/SYSTEM")
            #expect(software >= 60 << 20 && software < 72 << 20, "SOFTWARE is \(software) bytes")
            #expect(system >= 15 << 20 && system < 20 << 20, "SYSTEM is \(system) bytes")
            #expect(software < 100_000_000, "libguestfs refuses hives over 100 MB")
            try g.withHive("/Windows/System32/config/SOFTWARE") { g in
                let classes = try #require(try g.node(atPath: "Classes\\CLSID"))
                #expect(try g.nodeChildren(classes).count > 20_000)
                let cv = try #require(try g.node(atPath: WindowsRegistryContent.currentVersionPath))
                #expect(try g.value(cv, "ProductName") == .string(Variant.realistic.spec.productName))
            }
            try g.withHive("/Windows/System32/config/SYSTEM") { g in
                let options = try #require(try g.node(atPath: "ControlSet001\\Control\\ProductOptions"))
                // 40,000 bytes: stored as a big data record, read back whole.
                #expect(try g.value(options, "ProductPolicy").map { $0.data.count } == 40_000)
                let services = try #require(try g.node(atPath: "ControlSet001\\Services"))
                #expect(try g.nodeChildren(services).count > 500)
            }
        }
    }

    /// Later features edit these hives with hivex: it must be able to (on a copy, inside the
    /// appliance's throw-away overlay, so other tests still see the disks as built).
    @Test func hivexEditsTheGeneratedHives() async throws {
        let appliance = try await fixture.appliance()
        for variant in [Variant.server, .realistic] {
            let spec = variant.spec
            try appliance.exclusive { g in
                try g.mount(appliance.partition(variant, .windows), at: "/")
                let copy = "/Windows/Temp/SYSTEM.edit"
                try g.cp("/Windows/System32/config/SYSTEM", copy)
                try g.withHive(copy, write: true) { g in
                    let name = try #require(try g.node(atPath: "\(spec.controlSetName)\\\(WindowsRegistryContent.computerNamePath)"))
                    try g.nodeSetValue(name, key: "ComputerName", .string("RENAMED-PC"))
                    let services = try #require(try g.node(atPath: "\(spec.controlSetName)\\Services"))
                    let added = try g.nodeAddChild(services, "lcmtestsvc")
                    try g.nodeSetValue(added, key: "Start", .dword(3))
                }
                try g.withHive(copy) { g in
                    let name = try #require(try g.node(atPath: "\(spec.controlSetName)\\\(WindowsRegistryContent.computerNamePath)"))
                    #expect(try g.value(name, "ComputerName") == .string("RENAMED-PC"))
                    let added = try #require(try g.node(atPath: "\(spec.controlSetName)\\Services\\lcmtestsvc"))
                    #expect(try g.value(added, "Start") == .dword(3))
                    #expect(try g.node(atPath: "\(spec.controlSetName)\\Services\\Tcpip") != nil)
                }
                try g.rm(copy)
            }
        }
    }

    @Test func partitionsFilesystemsAndFilesMatchTheLayout() async throws {
        let appliance = try await fixture.appliance()
        for (variant, device) in appliance.devices.sorted(by: { $0.value < $1.value }) {
            let spec = variant.spec
            let layout = spec.layout
            try appliance.exclusive { g in
                let entries = try g.partList(device)
                #expect(entries.map(\.start) == layout.partitions.map(\.startOffset), "\(variant)")
                #expect(entries.map(\.size) == layout.partitions.map(\.size), "\(variant)")
                #expect(try g.partGetPartitionTableType(device) == (spec.partitioning == .gpt ? "gpt" : "msdos"))
                for partition in layout.partitions {
                    let dev = device + String(partition.number)
                    if spec.partitioning == .gpt {
                        #expect(try g.partGetGptGuid(device, partition: partition.number) == partition.uniqueGUID)
                        #expect(try g.partGetGptType(device, partition: partition.number) == partition.typeGUID)
                    } else {
                        #expect(try g.partGetMbrId(device, partition: partition.number) == 0x07)
                    }
                    switch partition.role {
                    case .efiSystem:
                        #expect(try g.vfsType(dev) == "vfat")
                        try g.mountReadOnly(dev, at: "/")
                        #expect(try g.isFile("/EFI/Microsoft/Boot/BCD"))
                        #expect(try g.isFile("/EFI/BOOT/BOOTX64.EFI") == spec.bootable, "\(variant)")
                    case .systemReserved:
                        #expect(try g.vfsType(dev) == "ntfs")
                        try g.mountReadOnly(dev, at: "/")
                        #expect(try g.isFile("/Boot/BCD"))
                    case .windows:
                        #expect(try g.vfsType(dev) == "ntfs")
                        try g.mountReadOnly(dev, at: "/")
                        if spec.hasWindows {
                            let type = try g.fileType("/Windows/System32/cmd.exe")
                            #expect(type.contains(spec.architecture == .x86_64 ? "PE32+" : "PE32 "), "\(variant): \(type)")
                            #expect(try g.isDir("/Program Files") && g.isDir("/Users"))
                            for app in spec.applications where !app.installLocation.isEmpty {
                                #expect(try g.isDir("/" + app.installLocation.replacingOccurrences(of: "\\", with: "/")))
                            }
                            #expect(try g.isFile("/Windows/System32/drivers/viostor.sys") == spec.virtioDrivers)
                        } else {
                            #expect(try !g.exists("/Windows"))
                            #expect(try g.isFile("/Users/Public/Documents/notes.txt"))
                        }
                    case .microsoftReserved:
                        break
                    }
                    try g.umountAll()
                }
            }
        }
    }

    // MARK: Faults

    /// ntfs-3g refuses a read-write mount of the hibernated and Fast Startup volumes: the host's
    /// ntfs-3g.probe says so, and in the appliance a read-write mount request silently falls back
    /// to read-only (ntfs-3g's behaviour), so writes fail.
    @Test func hibernatedVolumesRefuseReadWrite() async throws {
        let disks = try await fixture.disks()
        let dir = try makeTemporaryDirectory("lcm-hibernated")
        defer { try? FileManager.default.removeItem(at: dir) }
        for variant in [Variant.hibernated, .fastStartup, .gptQcow2] {
            let partition = try extractWindowsPartition(disks[variant]!, into: dir)
            let readWrite = try runTool("ntfs-3g.probe", ["--readwrite", partition], check: false)
            let readOnly = try runTool("ntfs-3g.probe", ["--readonly", partition], check: false)
            #expect(readOnly.status == 0, "\(variant)")
            if variant == .gptQcow2 {
                #expect(readWrite.status == 0)
            } else {
                #expect(readWrite.status != 0, "\(variant)")
                #expect((readWrite.stderr + readWrite.stdout).lowercased().contains("hibernat"), "\(readWrite.stderr)")
            }
            try FileManager.default.removeItem(atPath: partition)
        }

        let appliance = try await fixture.appliance()
        for variant in [Variant.hibernated, .fastStartup] {
            try appliance.exclusive { g in
                let dev = appliance.partition(variant, .windows)
                try g.mount(dev, at: "/")
                #expect(throws: GuestfsError.self, "\(variant)") { try g.touch("/written-by-lcm-test") }
                #expect(try g.read("/hiberfil.sys").prefix(4) == ArraySlice("HIBR".utf8))
                try g.withHive("/Windows/System32/config/SYSTEM") { g in
                    let power = try #require(try g.node(atPath: "ControlSet001\\\(WindowsRegistryContent.powerPath)"))
                    #expect(try g.value(power, "HiberbootEnabled") == .dword(variant == .fastStartup ? 1 : 0))
                    #expect(try g.value(power, "HibernateEnabled") == .dword(1))
                }
            }
        }
    }

    @Test func truncatedImageFailsItsCheck() async throws {
        let disks = try await fixture.disks()
        let truncated = try runTool("qemu-img", ["check", "-f", "qcow2", disks[.truncated]!.url.path], check: false)
        #expect(truncated.status != 0)
        #expect(truncated.stderr.contains("end of the file") || truncated.stdout.contains("errors were found"))
        let intact = try runTool("qemu-img", ["check", "-f", "qcow2", disks[.gptQcow2]!.url.path], check: false)
        #expect(intact.status == 0)
    }

    /// hivex (host and appliance) refuses the corrupt hive; the other hive of the disk is intact.
    @Test func corruptHivesAreRefused() async throws {
        let appliance = try await fixture.appliance()
        let dir = try makeTemporaryDirectory("lcm-corrupt")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (variant, bad, good) in [(Variant.corruptSoftware, "SOFTWARE", "SYSTEM"), (.corruptSystem, "SYSTEM", "SOFTWARE")] {
            let badFile = dir.appendingPathComponent("\(variant)-\(bad)").path
            let goodFile = dir.appendingPathComponent("\(variant)-\(good)").path
            try appliance.exclusive { g in
                try g.mountReadOnly(appliance.partition(variant, .windows), at: "/")
                try g.download("/Windows/System32/config/\(bad)", to: badFile)
                try g.download("/Windows/System32/config/\(good)", to: goodFile)
                #expect(throws: GuestfsError.self) { try g.hivexOpen("/Windows/System32/config/\(bad)") }
                try? g.hivexClose()
            }
            let refused = try runTool("hivexget", [badFile, "Select", "Current"], check: false)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("failed to open hive"), "\(refused.stderr)")
            try runTool("hivexml", [goodFile])
        }
    }

    @Test func noWindowsDiskHasNoWindows() async throws {
        let appliance = try await fixture.appliance()
        try appliance.exclusive { g in
            try g.mountReadOnly(appliance.partition(.noWindows, .windows), at: "/")
            #expect(try !g.exists("/Windows"))
            #expect(try g.isFile("/Data/archive.bin"))
        }
    }

    // MARK: Booting

    /// The bootable variant, defined as a libvirt domain with OVMF under TCG, boots through a
    /// qcow2 overlay, records the boot with the computer name it read from the SYSTEM hive, runs
    /// the queue and powers off by itself; the marker and the runner log are read back offline.
    @Test func bootableVariantBootsRunsTheQueueAndPowersOff() async throws {
        let outcome = try await fixture.boot()
        #expect(outcome.stoppedByItself, "no power-off within 120 s; console:\n\(outcome.console.suffix(2000))")
        #expect(outcome.console.contains("lcm-standin: power off"), "\(outcome.console.suffix(2000))")

        let spec = Variant.bootable.spec
        let appliance = try await fixture.appliance()
        let windows = String(spec.layout.windowsPartition.number)
        let state = try appliance.exclusive { g in
            try g.mountReadOnly(appliance.bootedDevice + windows, at: "/")
            return try BootRunnerContract.readState(on: g)
        }
        #expect(state.boots.map(\.computerName) == [spec.computerName])
        if let boot = state.boots.first {
            #expect(abs(boot.time.timeIntervalSinceNow) < 3600, "guest clock: \(boot.time)")
        }
        let ordered = spec.queue.sorted { $0.order < $1.order }
        #expect(state.results.map(\.item) == ordered.map(\.fileName))
        #expect(state.results.map(\.exitCode) == ordered.map(\.expectedStandInExitCode))
        #expect(state.results.map(\.rebootNeeded) == ordered.map { BootRunnerContract.rebootExitCodes.contains($0.expectedStandInExitCode) })
        #expect(state.results.allSatisfy { $0.started <= $0.ended })
        #expect(state.queuedFiles.isEmpty)
        #expect(!state.manifestPresent)

        // The cached base is untouched: its queue is still waiting.
        let base = try appliance.exclusive { g in
            try g.mountReadOnly(appliance.partition(.bootable, .windows), at: "/")
            return try BootRunnerContract.readState(on: g)
        }
        #expect(base.boots.isEmpty && base.results.isEmpty)
        #expect(base.manifestPresent)
        #expect(base.queuedFiles == ordered.map(\.fileName))
    }

    // MARK: Helpers

    /// A sparse raw copy of the Windows partition, for host tools that take a volume.
    private func extractWindowsPartition(_ disk: CachedDisk, into dir: URL) throws -> String {
        let partition = disk.spec.layout.windowsPartition
        let output = dir.appendingPathComponent("\(disk.key)-part.img").path
        let options = "driver=raw,offset=\(partition.startOffset),size=\(partition.size),"
            + "file.driver=\(disk.spec.format.rawValue),file.file.driver=file,file.file.filename=\(disk.url.path)"
        try runTool("qemu-img", ["convert", "-q", "--image-opts", options, "-O", "raw", output])
        return output
    }

    /// The raw bytes of a value, from hivexget's regedit-style listing of the key.
    private func registryBytes(_ file: String, _ key: String, _ name: String) throws -> [UInt8] {
        let prefix = "\"" + name.replacingOccurrences(of: "\\", with: "\\\\") + "\"="
        let listing = try runTool("hivexget", [file, key]).stdout
        guard let line = listing.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return [] }
        let data = line.dropFirst(prefix.count)
        guard data.hasPrefix("hex("), let colon = data.firstIndex(of: ":") else { return [] }
        return data[data.index(after: colon)...].split(separator: ",").compactMap { UInt8($0, radix: 16) }
    }
}
