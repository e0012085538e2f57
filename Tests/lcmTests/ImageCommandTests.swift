import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GRDB
import LCMKit
import LCMTestSupport
import Testing

/// The disks the image tests use, built once (one appliance launch, none when cached).
enum ImageFixture {
    enum Disk: String, CaseIterable, Sendable {
        case clean, mbrRaw, ready, hibernated, fastStartup, noWindows, truncated, corruptSoftware, bitLocker, answerFile, windows7, realistic

        var spec: WindowsDiskSpec {
            switch self {
            case .clean:
                return WindowsDiskSpec { $0.computerName = "LCM-IMG-CLEAN" }
            case .mbrRaw:
                return WindowsDiskSpec {
                    $0.format = .raw
                    $0.partitioning = .mbr
                    $0.productName = "Windows 10 Enterprise"
                    $0.editionID = "Enterprise"
                    $0.buildNumber = 19045
                    $0.ubr = 4651
                    $0.displayVersion = "22H2"
                    $0.computerName = "LCM-IMG-MBR"
                    $0.hostname = "lcm-img-mbr-host"
                    $0.controlSet = 2
                    $0.servicingPackages = [
                        .init(name: "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4651.1.11", state: .installPending, kb: "KB5040427"),
                        .init(name: "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4529.1.9", state: .installed, kb: "KB5039211"),
                    ]
                }
            case .ready:
                return WindowsDiskSpec { $0.computerName = "LCM-IMG-READY"; $0.generalized = true; $0.virtioDrivers = true }
            case .hibernated:
                return WindowsDiskSpec { $0.fault = .hibernated; $0.computerName = "LCM-IMG-HIBR"; $0.generalized = true; $0.virtioDrivers = true }
            case .fastStartup:
                return WindowsDiskSpec { $0.fault = .fastStartup; $0.computerName = "LCM-IMG-FAST"; $0.generalized = true; $0.virtioDrivers = true }
            case .noWindows:
                return WindowsDiskSpec { $0.fault = .noWindows; $0.computerName = "LCM-IMG-NOWIN" }
            case .truncated:
                return WindowsDiskSpec { $0.fault = .truncatedImage; $0.computerName = "LCM-IMG-TRUNC" }
            case .corruptSoftware:
                return WindowsDiskSpec { $0.fault = .corruptSoftwareHive; $0.computerName = "LCM-IMG-BADSOFT" }
            case .bitLocker:
                return WindowsDiskSpec { $0.fault = .bitLocker; $0.computerName = "LCM-IMG-FVE"; $0.generalized = true; $0.virtioDrivers = true }
            case .windows7:
                return WindowsDiskSpec {
                    $0.partitioning = .mbr
                    $0.productName = "Windows 7 Professional"
                    $0.editionID = "Professional"
                    $0.majorVersion = 6
                    $0.minorVersion = 1
                    $0.buildNumber = 7601
                    $0.ubr = 24546
                    $0.displayVersion = ""
                    $0.computerName = "LCM-IMG-W7"
                }
            case .answerFile:
                return WindowsDiskSpec { $0.fault = .leftoverAnswerFile; $0.computerName = "LCM-IMG-ANSWER"; $0.generalized = true; $0.virtioDrivers = true }
            case .realistic:
                // The size of a real installation where it matters to the reader: hives of real size
                // (SOFTWARE >= 60 MiB, SYSTEM >= 15 MiB), a 64 GiB volume, a fleet's worth of
                // applications and servicing history.
                return WindowsDiskSpec {
                    $0.computerName = "LCM-IMG-REAL"
                    $0.realisticSize = true
                    $0.virtualSize = 64 << 30
                    $0.generalized = true
                    $0.virtioDrivers = true
                    $0.applications = WindowsDiskSpec.defaultApplications + (1...120).map { i in
                        WindowsDiskSpec.Application(key: "{5A1C\(String(format: "%04X", i))-0000-4C4D-8000-00000000\(String(format: "%04X", i))}",
                                                    displayName: "Line-of-business app \(i)", version: "\(i / 10).\(i % 10)",
                                                    publisher: "Contoso", installLocation: "Program Files\\Contoso\\App\(i)", wow64: i % 3 == 0)
                    }
                    $0.servicingPackages = WindowsDiskSpec.defaultServicingPackages + (1...400).map { i in
                        WindowsDiskSpec.ServicingPackage(name: "Package_\(i)_for_KB\(5000000 + i)~31bf3856ad364e35~amd64~~22621.\(1000 + i).1.\(i % 9)",
                                                         state: i % 4 == 0 ? .superseded : .installed, kb: "KB\(5000000 + i)")
                    }
                }
            }
        }
    }

    /// Built on first use; later tests reuse the same files (read-only: the cache must not change).
    static let disks: Result<[Disk: URL], any Error> = Result {
        let builder = WindowsDiskBuilder(log: { print("image-tests: \($0)") })
        let images = try builder.images(for: Disk.allCases.map(\.spec))
        return Dictionary(uniqueKeysWithValues: zip(Disk.allCases, images.map(\.url)))
    }

    static func url(_ disk: Disk) throws -> URL { try disks.get()[disk]! }

    static func runner(_ home: String) -> LCMRunner {
        LCMRunner(home: home, environment: ["LCM_ACCEL": LCMRunner.testAccelerator,
                                            "LIBGUESTFS_BACKEND_SETTINGS": LCMRunner.testAccelerator == "tcg" ? "force_tcg" : ""])
    }
}

/// `lcm image` against real qemu-img, a real appliance and the project's Windows-shaped disks.
/// Serialized: each test launches appliances, and two at once on a small machine only slow both.
@Suite("lcm image (real qemu-img and libguestfs)", .serialized)
struct ImageCommandTests {
    // MARK: Inspect and readiness

    @Test func inspectsManyImagesInOneLaunchAndJudgesReadiness() throws {
        let scratch = ScratchDirectory()
        let lcm = ImageFixture.runner(scratch.file("home").path)
        let disks: [ImageFixture.Disk] = [.clean, .mbrRaw, .ready, .hibernated, .fastStartup, .noWindows, .bitLocker, .answerFile, .realistic]
        let start = ContinuousClock.now
        let run = try lcm.run(["image", "inspect", "--format", "json"] + disks.map { try ImageFixture.url($0).path })
        print("image-tests: inspect of \(disks.count) images took \(ContinuousClock.now - start)")
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("inspected \(disks.count) image(s) in 1 appliance launch(es)"), "\(run.stderr)")
        let outcomes = try JSONDecoder().decode([InspectOutcome].self, from: Data(run.stdout.utf8))
        try #require(outcomes.count == disks.count)
        let byDisk = Dictionary(uniqueKeysWithValues: zip(disks, outcomes))

        for disk in disks where disk.spec.hasWindows && !disk.spec.windowsVolumeIsEncrypted {
            let spec = disk.spec
            let inspection = try #require(byDisk[disk]?.inspection, "\(disk)")
            #expect(inspection.isWindows)
            #expect(inspection.productName == spec.productName)
            #expect(inspection.editionID == spec.editionID)
            #expect(inspection.installationType == spec.installationType)
            #expect(inspection.majorVersion == spec.majorVersion && inspection.minorVersion == spec.minorVersion)
            #expect(inspection.buildNumber == spec.buildNumber && inspection.ubr == spec.ubr)
            #expect(inspection.displayVersion == spec.displayVersion)
            #expect(inspection.osName == (spec.buildNumber >= 22000 ? "Windows 11" : "Windows 10"))
            #expect(inspection.architecture == spec.architecture.rawValue)
            #expect(inspection.hostname == spec.resolvedHostname)
            #expect(inspection.computerName == spec.computerName)
            #expect(inspection.controlSet == spec.controlSetName)
            #expect(inspection.driveLetters.map(\.letter) == ["C"])
            #expect(Set(inspection.applications.compactMap(\.displayName)) == Set(spec.applications.map(\.displayName)))
            let installedKBs = Set(spec.servicingPackages.filter { $0.state == .installed || $0.state == .permanent }.map(\.kb).filter { !$0.isEmpty })
            #expect(Set(inspection.servicing.installedUpdates) == installedKBs)
            #expect(inspection.servicing.rebootPending == spec.servicingPackages.contains { $0.state == .installPending })
            #expect(inspection.virtio.hasStorageDriver == spec.virtioDrivers)
            #expect(inspection.generalization.generalized == spec.generalized)
            #expect(inspection.hibernation.hibernated == (spec.fault == .hibernated || spec.fault == .fastStartup))
            #expect(inspection.hibernation.writableOffline == (spec.fault != .hibernated && spec.fault != .fastStartup))
            #expect(inspection.hibernation.fastStartupEnabled == (spec.fault == .fastStartup))
        }
        #expect(byDisk[.noWindows]?.inspection?.isWindows == false)

        func ids(_ disk: ImageFixture.Disk) -> Set<String> { Set(byDisk[disk]?.problems?.map(\.id) ?? ["<none>"]) }
        #expect(ids(.clean) == ["not-generalized", "no-virtio-storage", "no-virtio-network"])
        #expect(ids(.ready) == ["no-virtio-network"])
        #expect(ids(.realistic) == ["no-virtio-network"])
        // The realistic image's lists came through whole (the loop above compared their contents).
        #expect(byDisk[.realistic]?.inspection?.applications.count == ImageFixture.Disk.realistic.spec.applications.count)
        #expect((byDisk[.realistic]?.inspection?.servicing.installedUpdates.count ?? 0) > 300)
        #expect(ids(.hibernated) == ["hibernated", "no-virtio-network"])
        #expect(ids(.fastStartup) == ["hibernated", "fast-startup", "no-virtio-network"])
        #expect(ids(.mbrRaw).isSuperset(of: ["not-generalized", "no-virtio-storage", "servicing-pending"]))
        #expect(ids(.noWindows) == ["no-windows"])
        #expect(ids(.bitLocker) == ["bitlocker"])
        #expect(byDisk[.bitLocker]?.inspection?.isWindows == false)
        #expect(byDisk[.bitLocker]?.inspection?.bitLockerPartitions.count == 1)
        #expect(ids(.answerFile) == ["answer-file-secrets", "no-virtio-network"])
        let answerFiles = byDisk[.answerFile]?.inspection?.answerFiles ?? []
        #expect(answerFiles.map(\.path) == [WindowsDiskSpec.leftoverAnswerFilePath])
        let secretKinds = Set(answerFiles.first?.secrets ?? [])
        #expect(secretKinds.isSuperset(of: ["password", "product key"]))
        // The secrets themselves never reach lcm's output.
        #expect(!run.stdout.contains(ImageFixture.Disk.answerFile.spec.answerFileSecrets.administratorPassword))
        for disk in disks where disk != .answerFile { #expect(byDisk[disk]?.inspection?.answerFiles.isEmpty == true, "\(disk)") }
        #expect(byDisk[.ready]?.problems?.allSatisfy { $0.severity == .warning } == true)

        // `check` exit codes: 3 with a blocker, 0 with warnings only.
        #expect(try lcm.run(["image", "check", try ImageFixture.url(.ready).path]).status == 0)
    }

    @Test func inspectionAgreesWithVirtInspector() throws {
        let scratch = ScratchDirectory()
        let lcm = ImageFixture.runner(scratch.file("home").path)
        let disks: [ImageFixture.Disk] = [.clean, .mbrRaw, .realistic]
        let run = try lcm.run(["image", "inspect", "--format", "json"] + disks.map { try ImageFixture.url($0).path })
        #expect(run.status == 0, "\(run.stderr)")
        let outcomes = try JSONDecoder().decode([InspectOutcome].self, from: Data(run.stdout.utf8))
        // virt-inspector on the same disks in one run: each disk becomes one root, in order.
        var arguments: [String] = []
        for disk in disks { arguments += ["--format=\(disk.spec.format.rawValue)", "-a", try ImageFixture.url(disk).path] }
        let start = ContinuousClock.now
        let reference = try ProgramRun.run("/usr/bin/virt-inspector", ["--no-icon"] + arguments,
                                           environment: ["LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"])
        print("image-tests: virt-inspector on \(disks.count) disks took \(ContinuousClock.now - start)")
        #expect(reference.status == 0, "\(reference.stderr)")
        let systems = try VirtInspectorReport.parse(reference.stdout)
        try #require(systems.count == disks.count)
        for (outcome, system) in zip(outcomes, systems.sorted { $0.root < $1.root }) {
            let mine = try #require(outcome.inspection)
            #expect(system.root == mine.windowsPartition)
            #expect(system.productName == mine.productName)
            #expect(system.arch == mine.architecture)
            #expect(system.majorVersion == mine.majorVersion && system.minorVersion == mine.minorVersion)
            #expect(system.hostname == mine.hostname)
            #expect(system.productVariant == mine.installationType)
            // libguestfs 1.48 reports no build_id; newer ones do.
            if let buildID = system.buildID { #expect(buildID == mine.buildNumber.map(String.init)) }
            #expect(system.driveMappings == Dictionary(uniqueKeysWithValues: mine.driveLetters.map { ($0.letter, $0.partition) }))
            #expect(Set(system.applicationNames) == Set(mine.applications.compactMap(\.displayName)))
        }
    }

    // MARK: Import and catalog

    @Test func importsQcow2RawAndVmdkAsCatalogedVersions() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let lcm = ImageFixture.runner(home)
        let clean = try ImageFixture.url(.clean)

        let first = try lcm.run(["image", "import", clean.path, "--name", "win11", "--format", "json"])
        try #require(first.status == 0, "\(first.stderr)")
        let report = try JSONDecoder().decode(ImageImportReport.self, from: Data(first.stdout.utf8))
        print(String(format: "image-tests: import qcow2 %.1f s (convert %.1f, inspect %.1f)",
                     report.secondsTotal, report.secondsConverting, report.secondsInspecting))
        #expect(report.version == "1")
        #expect(report.path == "\(home)/images/win11/1.qcow2")
        #expect(report.sourceSHA256 == (try FileDigest.sha256(path: clean.path)))
        #expect(report.sha256 == (try FileDigest.sha256(path: report.path)))
        #expect(report.inspection.computerName == ImageFixture.Disk.clean.spec.computerName)
        let attributes = try FileManager.default.attributesOfItem(atPath: report.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o444)
        let info = try QemuImage.info(path: report.path, forceShare: true, backingChain: false)
        #expect(info.first?.format == "qcow2" && info.first?.backingFilename == nil)

        // raw, MBR: another image
        let raw = try lcm.run(["image", "import", try ImageFixture.url(.mbrRaw).path, "--name", "win10-ent", "--version", "2026.12"])
        #expect(raw.status == 0, "\(raw.stderr)")

        // vmdk: made from the clean disk here, imported as the next version of win11
        let vmdk = scratch.file("clean.vmdk").path
        let made = try ProgramRun.run("/usr/bin/qemu-img", ["convert", "-f", "qcow2", "-O", "vmdk", clean.path, vmdk])
        try #require(made.status == 0, "\(made.stderr)")
        let second = try lcm.run(["image", "import", vmdk, "--name", "win11", "--format", "json"])
        try #require(second.status == 0, "\(second.stderr)")
        let secondReport = try JSONDecoder().decode(ImageImportReport.self, from: Data(second.stdout.utf8))
        #expect(secondReport.version == "2" && secondReport.sourceFormat == "vmdk")
        #expect(secondReport.inspection.productName == report.inspection.productName)

        let list = try lcm.run(["image", "list", "--format", "json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { "\($0["image"]!):\($0["version"]!)" } == ["win10-ent:2026.12", "win11:1", "win11:2"])

        // show: provenance
        let show = try lcm.run(["image", "show", "win11", "--format", "json"])
        #expect(show.status == 0)
        #expect(show.stdout.contains("\"sourceFormat\" : \"vmdk\""))
        #expect(show.stdout.contains(vmdk))

        // verify: matches, then a changed file is caught (exit 3)
        #expect(try lcm.run(["image", "verify"]).status == 0)
        let handle = try #require(FileHandle(forWritingAtPath: report.path))
        try handle.seekToEnd(); try handle.write(contentsOf: Data([0x42])); try handle.close()
        let tampered = try lcm.run(["image", "verify", "win11:1"])
        #expect(tampered.status == LCMExitCode.checkFailed.rawValue)
        #expect(tampered.stdout.contains("checksum differs"))

        // rm: refused while a desktop uses the version, names it; then removes the file, keeps the row
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
        let versionID = try inventory.read { try Int64.fetchOne($0, sql: "SELECT id FROM imageVersion WHERE path = ?", arguments: [secondReport.path]) }
        try inventory.write { db in
            var desktop = Desktop(name: "desk-anna", deviceID: nil, imageVersionID: versionID)
            try desktop.insert(db)
        }
        let refused = try lcm.run(["image", "rm", "win11:2"])
        #expect(refused.status == LCMExitCode.conflict.rawValue)
        #expect(refused.stderr.contains("desk-anna"))
        #expect(FileManager.default.fileExists(atPath: secondReport.path))
        let removed = try lcm.run(["image", "rm", "win11:1"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: report.path))
        let all = try lcm.run(["image", "list", "win11", "--all", "--format", "json"])
        #expect(all.stdout.contains("\"removed\""))
        // A removed version's number is not reused.
        let reuse = try lcm.run(["image", "import", clean.path, "--name", "win11", "--version", "1"])
        #expect(reuse.status == LCMExitCode.conflict.rawValue)
    }

    @Test func badInputIsRefusedAndChangesNothing() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let lcm = ImageFixture.runner(home)
        let good = try lcm.run(["image", "import", try ImageFixture.url(.ready).path, "--name", "base", "--version", "1"])
        try #require(good.status == 0, "\(good.stderr)")

        func snapshot() throws -> [String] {
            let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
            let rows = try inventory.read { db in
                try String.fetchAll(db, sql: "SELECT i.name || ':' || v.version || ':' || v.sha256 FROM imageVersion v JOIN image i ON i.id = v.imageID")
                    + String.fetchAll(db, sql: "SELECT 'running:' || id FROM operation WHERE state = 'running'")
            }
            let files = (FileManager.default.enumerator(atPath: "\(home)/images")?.allObjects as? [String]) ?? []
            return rows.sorted() + files.sorted()
        }
        let before = try snapshot()
        let directory = scratch.file("a-directory")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let fifo = scratch.file("a-fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let hostile = try HostileImages(in: scratch.file("hostile"))
        var cases: [(String, [String], LCMExitCode, String)] = [
            ("truncated", [try ImageFixture.url(.truncated).path, "--name", "t"], .dataError, "damaged"),
            ("no windows", [try ImageFixture.url(.noWindows).path, "--name", "t"], .dataError, "no Windows"),
            ("corrupt hive", [try ImageFixture.url(.corruptSoftware).path, "--name", "t"], .dataError, "cannot inspect"),
            ("bitlocker", [try ImageFixture.url(.bitLocker).path, "--name", "t"], .dataError, "BitLocker"),
            ("missing", [scratch.file("nothing.qcow2").path, "--name", "t"], .notFound, "does not exist"),
            ("directory", [directory.path, "--name", "t"], .notFound, "is a directory"),
            ("duplicate", [try ImageFixture.url(.ready).path, "--name", "base", "--version", "1"], .conflict, "already has a version 1"),
            ("bad name", [try ImageFixture.url(.ready).path, "--name", "../etc"], .usage, "invalid image name"),
            ("fifo", [fifo, "--name", "t"], .notFound, "FIFO"),
            ("character device", ["/dev/zero", "--name", "t"], .notFound, "character device"),
        ]
        // Images that name a host file: refused from their header, before qemu opens them.
        for kind in HostileImages.Kind.allCases {
            let path = try #require(hostile.files[kind]).path
            cases.append(("hostile \(kind)", [path, "--name", "t"], .dataError, path))
        }
        for (label, arguments, code, message) in cases {
            let run = try lcm.run(["image", "import"] + arguments)
            #expect(run.status == code.rawValue, "\(label): \(run.status) \(run.stderr)")
            #expect(run.stderr.contains(message), "\(label): \(run.stderr)")
            #expect(run.stderr.contains("hint:"), "\(label): no hint in \(run.stderr)")
            #expect(try snapshot() == before, "\(label) changed the catalog or the store")
            #expect(!run.stdout.contains(hostile.secret.prefix(20)) && !run.stderr.contains(hostile.secret.prefix(20)))
        }
    }
}

extension ImageCommandTests {
    // MARK: Drivers

    @Test func driversAddMakesANewVersionAndLeavesTheParentAlone() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let lcm = ImageFixture.runner(home)
        let spec = ImageFixture.Disk.clean.spec
        let imported = try lcm.run(["image", "import", try ImageFixture.url(.clean).path, "--name", "gen", "--format", "json"])
        try #require(imported.status == 0, "\(imported.stderr)")
        let parent = try JSONDecoder().decode(ImageImportReport.self, from: Data(imported.stdout.utf8))
        #expect(!parent.inspection.virtio.hasStorageDriver)

        // Media without drivers for this Windows: refused before anything is copied.
        let empty = scratch.file("empty-media")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let refused = try lcm.run(["image", "drivers", "add", "gen", "--virtio", empty.path])
        #expect(refused.status == LCMExitCode.dataError.rawValue, "\(refused.stderr)")
        #expect(refused.stderr.contains("no virtio storage driver"))

        let media = VirtioDriverMedia()
        let iso = scratch.file("virtio-win.iso")
        try media.writeISO(to: iso)
        // Killed at each journaled step first (past the launch: the work done and the version
        // published, but the publishing step not recorded done): recovery leaves the catalog and the
        // store as they were, and the run below is the rerun that succeeds once.
        try CrashRecovery.killDerivation(lcm, kind: "image-drivers", ["image", "drivers", "add", "gen", "--virtio", iso.path],
                                         at: CrashRecovery.derivationPoints(kind: "image-drivers") + ["image-drivers:publish:ran"])
        let added = try lcm.run(["image", "drivers", "add", "gen", "--virtio", iso.path, "--format", "json"])
        try #require(added.status == 0, "\(added.stderr)")
        let report = try JSONDecoder().decode(DriverInjectionReport.self, from: Data(added.stdout.utf8))
        print(String(format: "image-tests: drivers add %.1f s", report.secondsTotal))
        #expect(report.parent == "gen:1" && report.version == "2")
        #expect(report.summary.registration == "DriverDatabase")
        let expectedIDs = Set((VirtioDriverMedia.Driver.viostor.deviceIDs + VirtioDriverMedia.Driver.vioscsi.deviceIDs).map { $0.uppercased() })
        #expect(Set(report.summary.pciIDs.map { $0.uppercased() }).isSuperset(of: expectedIDs), "\(report.summary.pciIDs)")
        #expect(report.inspection.virtio.storageDrivers == ["viostor", "vioscsi"])
        #expect(report.inspection.virtio.networkDrivers == ["netkvm"])
        #expect(report.inspection.virtio.devicePathIncludesDrivers)
        #expect(!ImageReadiness.problems(report.inspection).contains { $0.id.hasPrefix("no-virtio") })

        // The parent is unchanged byte for byte.
        #expect(try FileDigest.sha256(path: parent.path) == parent.sha256)
        #expect(try lcm.run(["image", "verify", "gen:1"]).status == 0)
        let show = try lcm.run(["image", "show", "gen:2"])
        #expect(show.stdout.contains("gen:1 -> gen:2"), "\(show.stdout)")
        #expect(show.stdout.contains("drivers add"))

        // Read back outside lcm: guestfish for the files, hivexget for the registry.
        let windows = "/dev/sda\(spec.layout.partition(.windows)!.number)"
        let system = scratch.file("SYSTEM").path, software = scratch.file("SOFTWARE").path
        let fish = try ProgramRun.run("/usr/bin/guestfish", [
            "--ro", "--format=qcow2", "-a", report.path, "-m", windows,
            "download", "/Windows/System32/config/SYSTEM", system, ":",
            "download", "/Windows/System32/config/SOFTWARE", software, ":",
            "is-file", "/Windows/Drivers/VirtIO/viostor.sys", ":",
            "is-file", "/Windows/System32/drivers/viostor.sys", ":",
            "is-file", "/Windows/Drivers/VirtIO/netkvm.inf", ":",
            "cat", "/Windows/Setup/Scripts/SetupComplete.cmd",
        ], environment: ["LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"])
        try #require(fish.status == 0, "\(fish.stderr)")
        let lines = fish.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(Array(lines.prefix(3)) == ["true", "true", "true"], "\(fish.stdout)")
        #expect(fish.stdout.contains("pnputil /add-driver"))
        func hivexget(_ hive: String, _ key: String, _ value: String) throws -> String {
            let run = try ProgramRun.run("/usr/bin/hivexget", [hive, key, value])
            return run.status == 0 ? run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "<exit \(run.status)>"
        }
        #expect(try hivexget(system, "\(spec.controlSetName)\\Services\\viostor", "Start") == "0")
        #expect(try hivexget(system, "\(spec.controlSetName)\\Services\\vioscsi", "Group") == "SCSI miniport")
        #expect(try hivexget(system, "\(spec.controlSetName)\\Services\\viostor", "ImagePath") == "system32\\drivers\\viostor.sys")
        for id in VirtioDriverMedia.Driver.viostor.deviceIDs {
            let key = "DriverDatabase\\DeviceIds\\PCI\\\(id.uppercased())"
            #expect(try ProgramRun.run("/usr/bin/hivexget", [system, key, "viostor.inf"]).status == 0, "\(key)")
        }
        #expect(try hivexget(software, "Microsoft\\Windows\\CurrentVersion", "DevicePath").contains("Drivers\\VirtIO"))

        // diff: the injection's files, registry values and facts, both versions in one launch;
        // the added and removed files agree with virt-diff's.
        let diffRun = try lcm.run(["image", "diff", "gen:1", "gen:2", "--format", "json"])
        #expect(diffRun.status == LCMExitCode.checkFailed.rawValue, "\(diffRun.stderr)")
        let diff = try JSONDecoder().decode(ImageDiffReport.self, from: Data(diffRun.stdout.utf8))
        #expect(diff.launches == 1)
        let addedFiles = Set(diff.files.filter { $0.change == .added }.map { $0.path.lowercased() })
        #expect(addedFiles.contains("/windows/system32/drivers/viostor.sys"), "\(addedFiles.sorted())")
        #expect(addedFiles.contains("/windows/drivers/virtio/netkvm.inf"))
        #expect(!diff.files.contains { $0.change == .removed })
        #expect(diff.facts.contains { $0.field == "virtio storage drivers" && $0.old == "" && $0.new == "viostor,vioscsi" }, "\(diff.facts)")
        #expect(diff.registry.contains { $0.hive == "SYSTEM" && $0.key == "\(spec.controlSetName)\\Services\\viostor" && $0.value == nil && $0.change == .added },
                "\(diff.registry.filter { $0.hive == "SYSTEM" }.prefix(20))")
        let devicePath = diff.registry.first { $0.hive == "SOFTWARE" && $0.value == "DevicePath" }
        #expect(devicePath?.change == .modified && devicePath?.new?.contains("Drivers\\VirtIO") == true, "\(String(describing: devicePath))")
        #expect(diff.applications.isEmpty)
        let virtDiff = try ProgramRun.run("/usr/bin/virt-diff", ["--format=qcow2", "-a", parent.path, "-A", report.path],
                                          environment: ["LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"])
        #expect(virtDiff.status == 0, "\(virtDiff.stderr)")
        func paths(_ sign: Character) -> Set<String> {
            Set(virtDiff.stdout.split(separator: "\n").filter { $0.first == sign }.compactMap { line in
                line.split(separator: " ", omittingEmptySubsequences: true).last.map { String($0).lowercased() }
            })
        }
        // virt-diff lists a changed directory as "-" then "+": added is "+" without "-".
        #expect(paths("+").subtracting(paths("-")) == addedFiles, "virt-diff: \(paths("+").sorted())")
        #expect(paths("-").subtracting(paths("+")).isEmpty)
        // The imported version against the file it came from: compared, and nothing differs.
        let same = try lcm.run(["image", "diff", "gen:1", try ImageFixture.url(.clean).path])
        #expect(same.status == 0, "\(same.stderr)\n\(same.stdout)")
        #expect(same.stdout.contains("no differences"))
        #expect(try lcm.run(["image", "diff", "gen:2", "gen:2"]).status == 0)
    }

    /// kill -9 at each stage of an import (converting, appliance running, inspected, published but
    /// not yet committed as done): `lcm recover` leaves no catalog row, no store or incoming file and
    /// no appliance; the import then runs once, cleanly.
    @Test func killedImportLeavesNothingAndTheNextRunImports() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let lcm = ImageFixture.runner(home)
        let source = try ImageFixture.url(.clean).path
        let images = URL(fileURLWithPath: home).appendingPathComponent("images")
        func storeFiles() -> [String] {
            let walker = FileManager.default.enumerator(atPath: images.path)
            return (walker?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".qcow2") }.sorted()
        }
        for failpoint in ["image-import:convert:ran", "disk-engine:launched:ran", "image-import:inspect:ran", "image-import:publish:ran"] {
            var killer = lcm
            killer.environment["LCM_FAILPOINT"] = failpoint
            let killed = try killer.run(["image", "import", source, "--name", "crash"])
            #expect(killed.signaled && killed.status == SIGKILL, "\(failpoint): not killed: \(killed.stderr)")
            let recovered = try lcm.run(["recover", "--format", "json"])
            #expect(recovered.status == 0, "\(failpoint): \(recovered.stderr)")
            #expect(recovered.stdout.contains("image-import"), "\(failpoint): \(recovered.stdout)")
            let list = try lcm.run(["image", "list", "--format", "json"])
            #expect(list.status == 0 && list.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(failpoint): \(list.stdout)")
            #expect(storeFiles().isEmpty, "\(failpoint): left \(storeFiles())")
            #expect(ProcessTable.processes(mentioning: home).isEmpty, "\(failpoint): a process survived")
        }
        let imported = try lcm.run(["image", "import", source, "--name", "crash", "--format", "json"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(storeFiles() == ["crash/1.qcow2"])
        #expect(try lcm.run(["image", "verify", "crash"]).status == 0)
    }

    /// Windows 7 has no DriverDatabase: its boot loader finds the storage driver for a PCI device
    /// through CriticalDeviceDatabase, in the current control set.
    @Test func driversAddOnWindows7RegistersCriticalDevices() throws {
        let scratch = ScratchDirectory()
        let lcm = ImageFixture.runner(scratch.file("home").path)
        let spec = ImageFixture.Disk.windows7.spec
        let directory = scratch.file("virtio-win")
        _ = try VirtioDriverMedia().write(to: directory)
        let imported = try lcm.run(["image", "import", try ImageFixture.url(.windows7).path, "--name", "w7"])
        try #require(imported.status == 0, "\(imported.stderr)")
        let added = try lcm.run(["image", "drivers", "add", "w7", "--virtio", directory.path, "--format", "json"])
        try #require(added.status == 0, "\(added.stderr)")
        let report = try JSONDecoder().decode(DriverInjectionReport.self, from: Data(added.stdout.utf8))
        #expect(report.summary.registration == "CriticalDeviceDatabase")
        #expect(report.summary.folders.allSatisfy { $0.contains("/w7/") }, "\(report.summary.folders)")
        let system = scratch.file("SYSTEM").path
        let windows = "/dev/sda\(spec.layout.partition(.windows)!.number)"
        let fish = try ProgramRun.run("/usr/bin/guestfish", ["--ro", "--format=qcow2", "-a", report.path, "-m", windows,
                                                              "download", "/Windows/System32/config/SYSTEM", system],
                                      environment: ["LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"])
        try #require(fish.status == 0, "\(fish.stderr)")
        for id in VirtioDriverMedia.Driver.viostor.deviceIDs {
            let key = "\(spec.controlSetName)\\Control\\CriticalDeviceDatabase\\PCI#\(id.uppercased())"
            let service = try ProgramRun.run("/usr/bin/hivexget", [system, key, "Service"])
            #expect(service.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "viostor", "\(key): \(service.stderr)")
        }
        let first = try #require(VirtioDriverMedia.Driver.viostor.deviceIDs.first)
        #expect(try ProgramRun.run("/usr/bin/hivexget", [system, "DriverDatabase\\DeviceIds\\PCI\\\(first.uppercased())", "viostor.inf"]).status != 0,
                "Windows 7 reads no DriverDatabase: nothing is registered there")
    }

    @Test func importCanInjectDriversFromADirectory() throws {
        let scratch = ScratchDirectory()
        let lcm = ImageFixture.runner(scratch.file("home").path)
        let directory = scratch.file("virtio-win")
        _ = try VirtioDriverMedia().write(to: directory)
        let run = try lcm.run(["image", "import", try ImageFixture.url(.mbrRaw).path, "--name", "w10", "--inject-virtio", directory.path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("w10:2 made from w10:1 with viostor/w10/amd64"), "\(run.stdout)")
        let list = try lcm.run(["image", "list", "w10", "--format", "json"])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["virtio"] as? Bool } == [false, true])
        #expect(rows.last?["parent"] as? String == "w10:1")
    }
}

/// The fields of virt-inspector's XML that lcm also reports.
struct VirtInspectorReport {
    var root: String
    var productName: String?
    var productVariant: String?
    var arch: String?
    var majorVersion: Int?
    var minorVersion: Int?
    var hostname: String?
    var buildID: String?
    var driveMappings: [String: String] = [:]
    var applicationNames: [String] = []

    static func parse(_ xml: String) throws -> [VirtInspectorReport] {
        let document = try XMLDocument(xmlString: xml)
        return try document.nodes(forXPath: "//operatingsystem").map { node in
            func text(_ path: String) throws -> String? { try node.nodes(forXPath: path).first?.stringValue }
            var report = VirtInspectorReport(root: try text("root") ?? "")
            report.productName = try text("product_name")
            report.productVariant = try text("product_variant")
            report.arch = try text("arch")
            report.majorVersion = try text("major_version").flatMap { Int($0) }
            report.minorVersion = try text("minor_version").flatMap { Int($0) }
            report.hostname = try text("hostname")
            report.buildID = try text("build_id")
            for mapping in try node.nodes(forXPath: "drive_mappings/drive_mapping") {
                if let element = mapping as? XMLElement, let name = element.attribute(forName: "name")?.stringValue {
                    report.driveMappings[name] = element.stringValue
                }
            }
            report.applicationNames = try node.nodes(forXPath: "applications/application/display_name").compactMap(\.stringValue)
            return report
        }
    }
}
