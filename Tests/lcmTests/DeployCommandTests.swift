import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import GRDB
import Libvirt
import LCMKit
import LCMTestSupport
import Testing

/// The golden images the deploy tests use, built once (one appliance launch, none when cached).
enum DeployFixture {
    enum Disk: String, CaseIterable, Sendable {
        case golden, ungeneralized, bootable, small

        var spec: WindowsDiskSpec {
            switch self {
            case .golden:
                return WindowsDiskSpec { $0.computerName = "LCM-GOLDEN"; $0.generalized = true; $0.virtioDrivers = true; $0.controlSet = 2 }
            case .ungeneralized:
                return WindowsDiskSpec { $0.computerName = "LCM-UNGEN"; $0.generalized = false; $0.virtioDrivers = true }
            case .bootable:
                // No virtio drivers: the desktop falls back to SATA, which the stand-in's kernel reads.
                return WindowsDiskSpec { $0.computerName = "LCM-BOOTGOLD"; $0.generalized = true; $0.bootable = true }
            case .small:
                // The smallest disk the builder makes: a patch bigger than its free space is refused.
                return WindowsDiskSpec { $0.computerName = "LCM-SMALL"; $0.generalized = true; $0.virtioDrivers = true; $0.virtualSize = 512 << 20 }
            }
        }
    }

    static let disks: Result<[Disk: URL], any Error> = Result {
        let builder = WindowsDiskBuilder(log: { print("deploy-tests: \($0)") })
        let images = try builder.images(for: Disk.allCases.map(\.spec))
        return Dictionary(uniqueKeysWithValues: zip(Disk.allCases, images.map(\.url)))
    }

    static func url(_ disk: Disk) throws -> URL { try disks.get()[disk]! }

    static let localURI = "qemu:///system"
    static let remoteURI = "qemu+tcp://127.0.0.1/system"
    static let poolDirectory = "/var/lib/libvirt/images/lcm"
}

/// One test's lcm home with a small profile, devices and imported images.
struct DeployWorld {
    let scratch = ScratchDirectory(prefix: "lcm-deploy")
    let home: String
    var lcm: LCMRunner
    let tag = String(UUID().uuidString.lowercased().prefix(6))

    init() throws {
        home = scratch.file("home").path
        lcm = ImageFixture.runner(home)
        try expectOK(["procure", "profile", "add", "tiny", "--vcpus", "1", "--vm-memory", "512MiB", "--os-disk", "8GiB", "--data-disk", "1GiB"])
    }

    func expectOK(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let run = try lcm.run(arguments)
        try #require(run.status == 0, "lcm \(arguments.joined(separator: " ")): \(run.stderr)", sourceLocation: sourceLocation)
    }

    func addDevice(_ name: String, uri: String) throws {
        try expectOK(["procure", "add", "--asset-tag", name, "--serial", "SN-\(name)", "--uri", uri, "--profile", "tiny"])
    }

    func importImage(_ disk: DeployFixture.Disk, as name: String) throws {
        try expectOK(["image", "import", try DeployFixture.url(disk).path, "--name", name])
    }

    func inventory() throws -> Inventory { try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home))) }

    /// The domain's inactive definition from libvirtd, which `virt-xml-validate` must accept.
    func validatedDefinition(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let dumped = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", "--inactive", name])
        try #require(dumped.status == 0, "\(dumped.stderr)", sourceLocation: sourceLocation)
        let file = scratch.file("\(name).xml")
        try dumped.stdout.write(to: file, atomically: true, encoding: .utf8)
        let validated = try ProgramRun.run("/usr/bin/virt-xml-validate", [file.path, "domain"])
        #expect(validated.status == 0, "virt-xml-validate \(name): \(validated.stderr)", sourceLocation: sourceLocation)
        return dumped.stdout
    }

    /// Desktop name for this test run (names are global on the host's libvirtd).
    func name(_ base: String) -> String { "t\(tag)-\(base)" }

    /// Everything this test left on the host: domains, pool volumes and secrets whose names carry the tag.
    func hostLeftovers() throws -> [String] {
        let connection = try Connection(uri: DeployFixture.localURI)
        var found = try connection.listAllDomains().map { try $0.name }.filter { $0.contains(tag) }.map { "domain \($0)" }
        if let pool = try connection.lookupStoragePool(name: DeviceStoragePool.name) {
            try pool.refresh()
            found += try pool.listAllVolumes().map { try $0.name }.filter { $0.contains(tag) }.map { "volume \($0)" }
        }
        return found
    }

    /// Nothing of a desktop whose deployment recovery undid: no desktop or volume row, no live key
    /// copy (but LUKS keyslots, which go with their volume), no libvirt secret of any key of this
    /// home, no domain or pool volume of this test.
    func expectNoDesktopLeft(point: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (rows, liveCopies, keyIDs) = try inventory().read { db in
            (try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM desktop) + (SELECT COUNT(*) FROM volume)") ?? -1,
             try String.fetchAll(db, sql: "SELECT location FROM keyCopy WHERE destroyedAt IS NULL AND location != 'luks-keyslots'"),
             try String.fetchAll(db, sql: "SELECT DISTINCT keyID FROM keyCopy"))
        }
        #expect(rows == 0, "\(point): \(rows) desktop and volume rows left", sourceLocation: sourceLocation)
        #expect(liveCopies.isEmpty, "\(point): key copies left: \(liveCopies)", sourceLocation: sourceLocation)
        let secrets = try Connection(uri: DeployFixture.localURI).listAllSecrets().compactMap(\.usageID)
            .filter { usage in keyIDs.contains { usage.hasSuffix("/" + $0) } }
        #expect(secrets.isEmpty, "\(point): libvirt secrets left: \(secrets)", sourceLocation: sourceLocation)
        let leftovers = try hostLeftovers()
        #expect(leftovers.isEmpty, "\(point): \(leftovers)", sourceLocation: sourceLocation)
    }

    /// Removes whatever a failed test left on the host.
    func cleanUpHost() {
        guard let connection = try? Connection(uri: DeployFixture.localURI) else { return }
        for domain in (try? connection.listAllDomains()) ?? [] where ((try? domain.name) ?? "").contains(tag) {
            if (try? domain.isActive) == true { try? domain.destroy() }
            try? domain.undefine(removeNVRAM: true, removeTPMState: true)
        }
        if let pool = try? connection.lookupStoragePool(name: DeviceStoragePool.name) {
            for volume in (try? pool.listAllVolumes()) ?? [] where ((try? volume.name) ?? "").contains(tag) { try? volume.delete() }
        }
        // The disk and vTPM secrets of desktops a test left deployed (their usage names the key).
        let keyIDs = (try? inventory().read { db in try String.fetchAll(db, sql: "SELECT keyID FROM desktop WHERE keyID IS NOT NULL") }) ?? []
        for secret in (try? connection.listAllSecrets()) ?? [] {
            guard let usage = secret.usageID, keyIDs.contains(where: { usage.hasSuffix("/" + $0) }) else { continue }
            try? secret.undefine()
        }
    }

    /// Plain (decrypted) copies of desktops' volumes, made by qemu-img with the escrowed key: a
    /// reader independent of lcm's disk engine. Returns the copies in the order asked.
    func plainCopies(_ desktops: [(name: String, role: String)]) throws -> [String] {
        let inventory = try inventory()
        var copies: [String] = []
        for (index, item) in desktops.enumerated() {
            let row = try #require(try inventory.read { db in
                try Row.fetchOne(db, sql: """
                    SELECT d.keyID, v.path FROM desktop d JOIN volume v ON v.desktopID = d.id WHERE d.name = ? AND v.role = ?
                    """, arguments: [item.name, item.role])
            }, "no \(item.role) volume recorded for \(item.name)")
            let path: String = row["path"]
            let copy = scratch.file("plain-\(index).qcow2").path
            var arguments = ["convert", "-O", "qcow2"]
            if let keyID = row["keyID"] as String? {
                let keyFile = scratch.file("key-\(index)")
                let passphrase = try DesktopKey.passphrase(keyID: keyID, inventory: inventory)
                FileManager.default.createFile(atPath: keyFile.path, contents: Data(passphrase.bytes()), attributes: [.posixPermissions: 0o600])
                defer { unlink(keyFile.path) }
                // Every encrypted layer of the chain (a patched desktop has several) takes the key.
                let info = try ProgramRun.run("/usr/bin/qemu-img", ["info", "-U", "--backing-chain", "--output=json", path])
                let layers = try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]] ?? []
                var options = "driver=qcow2,file.filename=\(path)"
                for (depth, layer) in layers.enumerated() where layer["encrypted"] as? Bool == true {
                    options += ",\(String(repeating: "backing.", count: depth))encrypt.key-secret=sec0"
                }
                arguments += ["--object", "secret,id=sec0,file=\(keyFile.path)", "--image-opts", options, copy]
                let run = try ProgramRun.run("/usr/bin/qemu-img", arguments)
                try #require(run.status == 0, "qemu-img convert \(item.name) \(item.role): \(run.stderr)")
            } else {
                let run = try ProgramRun.run("/usr/bin/qemu-img", arguments + ["-f", "qcow2", path, copy])
                try #require(run.status == 0, "qemu-img convert: \(run.stderr)")
            }
            copies.append(copy)
        }
        return copies
    }

    /// Writes 8 MiB into a desktop's encrypted user-data disk with qemu-io, as a user's files would.
    func writeIntoDataDisk(_ desktop: String) throws {
        let inventory = try inventory()
        let row = try #require(try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT d.keyID, v.path FROM desktop d JOIN volume v ON v.desktopID = d.id WHERE d.name = ? AND v.role = 'data'",
                             arguments: [desktop])
        })
        let keyFile = scratch.file("key-write")
        let passphrase = try DesktopKey.passphrase(keyID: row["keyID"], inventory: inventory)
        FileManager.default.createFile(atPath: keyFile.path, contents: Data(passphrase.bytes()), attributes: [.posixPermissions: 0o600])
        defer { unlink(keyFile.path) }
        let run = try ProgramRun.run("/usr/bin/qemu-io", ["--object", "secret,id=sec0,file=\(keyFile.path)", "--image-opts",
                                                          "driver=qcow2,file.filename=\(row["path"] as String),encrypt.key-secret=sec0",
                                                          "-c", "write -P 0x5a 512M 8M"])
        try #require(run.status == 0, "qemu-io: \(run.stderr)")
    }

    /// `guestfish` over several disks in one launch: mounts `partition` of each (read-only) and
    /// runs `commands` (with `%d` replaced by the disk's letter index), returning stdout.
    func guestfish(_ disks: [String], partition: Int, perDisk commands: (Int) -> [String]) throws -> String {
        var arguments = ["--ro"]
        for disk in disks { arguments += ["--format=qcow2", "-a", disk] }
        arguments += ["run"]
        for index in disks.indices {
            let device = "/dev/sd\(String(UnicodeScalar(UInt8(97 + index))))\(partition)"
            arguments += [":", "mount-ro", device, "/"]
            for command in commands(index) { arguments += [":"] + command.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            arguments += [":", "umount-all"]
        }
        let run = try ProgramRun.run("/usr/bin/guestfish", arguments, environment: ["LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"])
        try #require(run.status == 0, "guestfish: \(run.stderr)")
        return run.stdout
    }
}

/// `lcm deploy` and `lcm manage status` against the real libvirtd (qemu:///system and over TCP),
/// real libguestfs and real qcow2 files, with the project's Windows-shaped and bootable disks.
@Suite("lcm deploy (real libvirtd and libguestfs)", .serialized)
struct DeployCommandTests {
    @Test func deploysABatchLocallyAndOneRemotelyEncryptedAndPersonalized() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        try world.addDevice("DEV-A-\(world.tag)", uri: DeployFixture.localURI)
        // The "remote" device is this libvirtd over TCP through a relay the test can cut.
        let relay = try TCPForwarder(toLoopbackPort: 16509)
        let remoteURI = "qemu+tcp://127.0.0.1:\(relay.port)/system"
        try world.addDevice("DEV-B-\(world.tag)", uri: remoteURI)
        try world.importImage(.golden, as: "gold")
        let golden = try DeployFixture.url(.golden)
        let windows = DeployFixture.Disk.golden.spec.layout.windowsPartition.number

        // The user's old data, as a tar.gz with a nested directory and a non-ASCII name.
        let old = world.scratch.file("old-profile")
        try FileManager.default.createDirectory(at: old.appendingPathComponent("Documents/Rapports"), withIntermediateDirectories: true)
        try "bonjour\n".write(to: old.appendingPathComponent("Documents/Rapports/été.txt"), atomically: true, encoding: .utf8)
        let archive = world.scratch.file("alice.tar.gz").path
        let tar = try ProgramRun.run("/bin/tar", ["-czf", archive, "-C", old.path, "Documents"])
        try #require(tar.status == 0, "\(tar.stderr)")

        let names = ["alice", "bob", "carol"].map { world.name($0) }
        let csv = world.scratch.file("fleet.csv")
        try """
            device,user,desktop,computer_name,migrate_archive,time_zone
            DEV-A-\(world.tag),alice,\(names[0]),PC-ALICE,\(archive),W. Europe Standard Time
            DEV-A-\(world.tag),bob,\(names[1]),PC-BOB,,
            DEV-A-\(world.tag),carol,\(names[2]),PC-CAROL,,

            """.write(to: csv, atomically: true, encoding: .utf8)
        let deployed = try world.lcm.run(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start", "--format", "json"])
        #expect(deployed.status == 0, "\(deployed.stderr)\n\(deployed.stdout)")
        let report = try JSONDecoder().decode(DeployReport.self, from: Data(deployed.stdout.utf8))
        #expect(report.outcomes.map(\.state) == [.deployed, .deployed, .deployed], "\(report.outcomes.map { $0.error ?? "" })")
        #expect(report.launches == 1, "three desktops' six disks in one appliance launch")
        let phases = report.phases
        #expect(phases.prepare > 0 && phases.personalize > 0 && phases.define > 0, "\(phases)")
        #expect(phases.goldenUpload <= phases.prepare, "\(phases)")
        #expect(phases.prepare + phases.personalize + phases.define <= report.seconds, "\(phases) in \(report.seconds) s")
        print(String(format: "deploy-tests: 3 desktops in %.1f s, %d launch(es); prepare %.1f s (golden upload %.1f s), personalize %.1f s, define %.1f s",
                     report.seconds, report.launches, phases.prepare, phases.goldenUpload, phases.personalize, phases.define))

        // Remote: lcm in a mount namespace where the pool directory is hidden; streams only.
        let remoteName = world.name("dave")
        var hidden = world.lcm
        hidden.environment["LCM_HOME"] = world.home
        let remote = try ProgramRun.run("/usr/bin/unshare", [
            "-m", "sh", "-c", "mount -t tmpfs lcm-hidden '\(DeployFixture.poolDirectory)' && exec \"$0\" \"$@\"",
            BuiltProducts.executable("lcm").path, "deploy", "--image", "gold:1", "--device", "DEV-B-\(world.tag)", "--user", "dave",
            "--name", remoteName, "--computer-name", "PC-DAVE", "--no-start", "--format", "json",
        ], environment: world.lcm.environment.merging(["LCM_HOME": world.home]) { $1 })
        #expect(remote.status == 0, "\(remote.stderr)\n\(remote.stdout)")

        // Backing chains and encryption, read by qemu-img.
        let inventory = try world.inventory()
        let goldenPath = try #require(try inventory.read { db in
            try String.fetchOne(db, sql: "SELECT path FROM hostImage WHERE uri = ?", arguments: [DeployFixture.localURI]) })
        let remoteGoldenPath = try #require(try inventory.read { db in
            try String.fetchOne(db, sql: "SELECT path FROM hostImage WHERE uri = ?", arguments: [remoteURI]) })
        for name in names + [remoteName] {
            let volumes = try inventory.read { db in
                try Row.fetchAll(db, sql: "SELECT v.role, v.path FROM volume v JOIN desktop d ON d.id = v.desktopID WHERE d.name = ?", arguments: [name])
            }
            #expect(volumes.count == 2, "\(name)")
            for volume in volumes {
                let info = try QemuImage.info(path: volume["path"], forceShare: true)
                #expect(info.first?.encrypted == true, "\(name) \(volume["role"] as String) is not encrypted")
                if volume["role"] as String == "os" {
                    let expected = name == remoteName ? remoteGoldenPath : goldenPath
                    #expect(info.first?.backingFilename == expected, "\(name): backing \(String(describing: info.first?.backingFilename))")
                } else {
                    #expect(info.first?.backingFilename == nil)
                }
            }
        }
        // The golden copy on the host is the imported file, byte for byte (uploaded once).
        // Uploaded once per device URI: the local and the TCP URI reach the same libvirtd, but lcm
        // cannot know that, so each has its own copy.
        #expect(try inventory.read { db in try String.fetchAll(db, sql: "SELECT uri FROM hostImage ORDER BY uri") }
                == [remoteURI, DeployFixture.localURI].sorted())
        #expect(try FileDigest.sha256(path: goldenPath) == FileDigest.sha256(path: try world.inventory().read { db in
            try String.fetchOne(db, sql: "SELECT path FROM imageVersion LIMIT 1")! }))
        _ = golden

        // Computer names in each OS layer's SYSTEM hive (current control set 2), user data on alice's disk.
        let osCopies = try world.plainCopies((names + [remoteName]).map { ($0, "os") })
        let hives = world.scratch.file("hives")
        try FileManager.default.createDirectory(at: hives, withIntermediateDirectories: true)
        _ = try world.guestfish(osCopies, partition: windows) { index in
            ["download /Windows/System32/config/SYSTEM \(hives.path)/SYSTEM-\(index)"]
        }
        for (index, expected) in ["PC-ALICE", "PC-BOB", "PC-CAROL", "PC-DAVE"].enumerated() {
            let value = try ProgramRun.run("/usr/bin/hivexget", ["\(hives.path)/SYSTEM-\(index)", "ControlSet002\\Control\\ComputerName\\ComputerName", "ComputerName"])
            #expect(value.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "desktop \(index): \(value.stdout) \(value.stderr)")
        }
        let timeZone = try ProgramRun.run("/usr/bin/hivexget", ["\(hives.path)/SYSTEM-0", "ControlSet002\\Control\\TimeZoneInformation", "TimeZoneKeyName"])
        #expect(timeZone.stdout.contains("W. Europe Standard Time"))
        // Every user-data disk has its NTFS volume (laid out on lcm's machine); alice's has her data.
        let dataCopies = try world.plainCopies([(names[0], "data"), (names[1], "data"), (remoteName, "data")])
        let listed = try world.guestfish(dataCopies, partition: 1) { index in
            // ntfs-3g reads the label only of a volume that is not mounted.
            (index == 0 ? ["cat /Documents/Rapports/été.txt"] : []) + ["umount-all", "vfs-label /dev/sd\(["a", "b", "c"][index])1"]
        }
        #expect(listed.contains("bonjour"), "\(listed)")
        #expect(listed.components(separatedBy: "UserData").count - 1 == 3, "\(listed)")

        // manage status: from libvirt and the inventory.
        let status = try world.lcm.run(["manage", "status", "--device", "DEV-A-\(world.tag)", "--format", "json"])
        #expect(status.status == 0, "\(status.stderr)")
        let desktops = try JSONDecoder().decode([DesktopStatusReport].self, from: Data(status.stdout.utf8))
        #expect(desktops.map(\.desktop) == names)
        for desktop in desktops {
            #expect(desktop.domainState == "shut off")
            #expect(desktop.disks.allSatisfy { $0.present && $0.encryption == "luks" }, "\(desktop.disks)")
            #expect(desktop.disks.first { $0.role == "os" }?.backingChain == [goldenPath])
        }

        // The domains libvirt holds pass libvirt's own schema.
        for name in names { _ = try world.validatedDefinition(name) }

        // The device goes away (issue 27 item 7): every command fails its desktop with 69 (2 for a
        // batch that also holds a reachable one), never 1, and changes nothing.
        relay.cutAll()
        let rowsBefore = try inventory.read { db in try Row.fetchAll(db, sql: "SELECT * FROM desktop ORDER BY id") }
        let reg = world.scratch.file("unreachable.reg")
        try "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Lcm]\r\n\"A\"=\"1\"\r\n".write(to: reg, atomically: true, encoding: .utf8)
        let unreachableCases: [([String], LCMExitCode)] = [
            (["manage", "patch", remoteName, "--add", reg.path], .unavailable),
            (["manage", "patch", "--device", "DEV-B-\(world.tag)", "--add", reg.path], .unavailable),
            (["manage", "rollback", remoteName], .unavailable),
            (["manage", "status", remoteName], .unavailable),
            (["retire", remoteName, "--dry-run"], .unavailable),
            (["retire", names[1], remoteName, "--dry-run"], .partialFailure),
            (["deploy", "--undo", remoteName], .unavailable),
        ]
        for (arguments, code) in unreachableCases {
            let run = try world.lcm.run(arguments)
            #expect(run.status == code.rawValue, "\(arguments): exit \(run.status): \(run.stderr)\(run.stdout)")
            #expect(!run.stderr.contains("a bug"), "\(arguments): \(run.stderr)")
        }
        #expect(try inventory.read { db in try Row.fetchAll(db, sql: "SELECT * FROM desktop ORDER BY id") } == rowsBefore)
        relay.restore()

        // Rerun: nothing is missing, nothing is done.
        let rerun = try world.lcm.run(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start", "--format", "json"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let again = try JSONDecoder().decode(DeployReport.self, from: Data(rerun.stdout.utf8))
        #expect(again.outcomes.map(\.state) == [.skipped, .skipped, .skipped] && again.launches == 0)
        // A rerun asking for another user is refused (exit 4 for its row), naming what differs.
        let otherUser = world.scratch.file("other-user.csv")
        try "device,user,desktop,computer_name\nDEV-A-\(world.tag),mallory,\(names[1]),PC-BOB\n"
            .write(to: otherUser, atomically: true, encoding: .utf8)
        let changed = try world.lcm.run(["deploy", "--from-csv", otherUser.path, "--image", "gold", "--no-start"])
        #expect(changed.status == LCMExitCode.conflict.rawValue, "\(changed.stderr)")
        #expect(changed.stderr.contains("user: bob -> mallory") || changed.stdout.contains("user: bob -> mallory"), "\(changed.stderr)\(changed.stdout)")

        // Undo: alice's disk holds migrated data, so her removal needs the admin's confirmation.
        let refused = try world.lcm.run(["deploy", "--undo", names[0]])
        #expect(refused.status == LCMExitCode.conflict.rawValue, "\(refused.stderr)")
        // Carol's disk was written to after deploy (as her files would be): confirmation needed.
        // Bob's was never started nor written: it goes without.
        try world.writeIntoDataDisk(names[2])
        let used = try world.lcm.run(["deploy", "--undo", names[2]])
        #expect(used.status == LCMExitCode.conflict.rawValue && used.stderr.contains("grown"), "\(used.stderr)")
        let unused = try world.lcm.run(["deploy", "--undo", names[1]])
        #expect(unused.status == 0, "\(unused.stderr)")
        for name in [names[0], names[2], remoteName] {
            let undo = try world.lcm.run(["deploy", "--undo", name, "--discard-user-data"])
            #expect(undo.status == 0, "\(undo.stderr)")
        }
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
        let keys = try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM keyCopy WHERE destroyedAt IS NULL AND location != 'luks-keyslots'") }
        #expect(keys == 0, "live key copies remain")
        #expect(try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM desktop") } == 0)
    }

    /// The bootable stand-in as golden image: the deployed desktop boots through OVMF from its
    /// encrypted overlay and backing file, reads its own computer name from the SYSTEM hive lcm
    /// personalized, records it and powers off. Proof that domain, disk chain and personalization fit.
    /// Two lcm homes deploy from the same golden version onto one host: the second finds the
    /// first's upload complete (same SHA-256) and takes it, instead of deleting the file the
    /// first home's desktops stand on (seen: a concurrent test's patch lost its backing file).
    @Test func aSecondHomeTakesTheGoldenCopyAnotherHomeUploaded() throws {
        let first = try DeployWorld(), second = try DeployWorld()
        defer { first.cleanUpHost(); second.cleanUpHost() }
        var paths: [String] = [], inodes: [Int?] = []
        for (index, world) in [first, second].enumerated() {
            try world.addDevice("DEV-H-\(world.tag)", uri: DeployFixture.localURI)
            try world.importImage(.golden, as: "gold")
            // The second home's admin opts out of encryption and Secure Boot (recorded, checked below).
            try world.expectOK(["deploy", "--image", "gold", "--device", "DEV-H-\(world.tag)", "--name", world.name("h"), "--no-start"]
                               + (index == 1 ? ["--no-encrypt", "--no-secure-boot"] : []))
            let path = try #require(try world.inventory().read { db in
                try String.fetchOne(db, sql: "SELECT path FROM hostImage WHERE uri = ?", arguments: [DeployFixture.localURI])
            })
            paths.append(path)
            inodes.append(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int)
        }
        #expect(paths[0] == paths[1] && inodes[0] != nil)
        #expect(inodes[0] == inodes[1], "the second home replaced the golden copy the first home's desktop stands on")
        let actions = try second.inventory().read { db in
            try String.fetchAll(db, sql: "SELECT action FROM event WHERE objectKind = 'image'")
        }
        #expect(actions.contains("found on host, same SHA-256"), "\(actions)")

        // --no-encrypt: plain volumes, recorded as such, the user-data disk laid out all the same.
        let plain = try second.inventory().read { db in
            try Row.fetchAll(db, sql: "SELECT role, path, encrypted FROM volume ORDER BY role")
        }
        #expect(plain.map { $0["role"] as String } == ["data", "os"])
        for volume in plain {
            #expect(volume["encrypted"] as Bool == false)
            let info = try QemuImage.info(path: volume["path"], forceShare: true)
            #expect(info.first?.encrypted == false && info.first?.format == "qcow2", "\(volume["role"] as String)")
            if volume["role"] as String == "os" { #expect(info.first?.backingFilename == paths[1]) }
        }
        let recorded = try second.inventory().read { db in
            try String.fetchOne(db, sql: "SELECT details FROM event WHERE action = 'deploy recorded'")
        }
        #expect(recorded?.contains("\"encrypted\":\"false\"") == true, "\(recorded ?? "no event")")
        #expect(recorded?.contains("\"secure_boot\":\"false\"") == true, "\(recorded ?? "no event")")

        // Secure Boot: on by default (firmware with Microsoft's keys enrolled, SMM), off where asked,
        // as libvirt holds the definitions and as the inventory records them.
        for (index, world) in [first, second].enumerated() {
            let secure = index == 0
            let name = world.name("h")
            let dumped = try world.validatedDefinition(name)
            let definition = try XMLDocument(xmlString: dumped, options: [])
            func values(_ path: String) throws -> [String] { try definition.nodes(forXPath: path).map { $0.stringValue ?? "" } }
            let enabled = secure ? "yes" : "no"
            #expect(try values("/domain/os/@firmware") == ["efi"])
            #expect(try values("/domain/os/firmware/feature[@name='secure-boot']/@enabled") == [enabled], "\(dumped)")
            #expect(try values("/domain/os/firmware/feature[@name='enrolled-keys']/@enabled") == [enabled], "\(dumped)")
            #expect(try values("/domain/features/smm/@state") == (secure ? ["on"] : []), "\(dumped)")

            let shown = try world.lcm.run(["inventory", "show", "desktops", name, "--format", "json"])
            try #require(shown.status == 0, "\(shown.stderr)")
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [[String: Any]], "\(shown.stdout)")
            #expect(rows.first?["secure_boot"] as? String == (secure ? "on" : "off"), "\(shown.stdout)")
            let settings = try #require(try world.inventory().read { db in
                try String.fetchOne(db, sql: "SELECT settings FROM desktop WHERE name = ?", arguments: [name])
            })
            #expect(try JSONDecoder().decode(DesktopSettings.self, from: Data(settings.utf8)).secureBoot == secure)
        }
        // A rerun that asks for Secure Boot where the desktop was deployed without it is refused, naming it.
        let flipped = try second.lcm.run(["deploy", "--image", "gold", "--device", "DEV-H-\(second.tag)", "--name", second.name("h"),
                                          "--no-start", "--no-encrypt"])
        #expect(flipped.status == LCMExitCode.conflict.rawValue, "\(flipped.stderr)")
        #expect(flipped.stderr.contains("Secure Boot: off -> on"), "\(flipped.stderr)")
        let raw = second.scratch.file("plain-data.raw").path
        let converted = try ProgramRun.run("/usr/bin/qemu-img", ["convert", "-U", "-O", "raw", plain[0]["path"] as String, raw])
        try #require(converted.status == 0, "\(converted.stderr)")
        let filesystem = try ProgramRun.run("/usr/sbin/blkid", ["-p", "-O", String(2048 * 512), "-o", "export", raw])
        #expect(filesystem.stdout.contains("TYPE=ntfs") && filesystem.stdout.contains("LABEL=UserData"), "\(filesystem.stdout)")
    }

    /// Also the offline domain join: the blob lands in the specialize answer file, with a boot
    /// queue item that removes every answer file after Setup; `patch status` says "not yet booted"
    /// before the first boot and "removed" after it, the volume holds no answer file any more, and
    /// lcm's home never held the blob.
    @Test func deployedDesktopBootsAndFindsItsComputerName() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-BOOT-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.bootable, as: "standin")
        let (network, destroyNetwork) = try world.makeNetwork()
        defer { destroyNetwork() }

        // A blob as `djoin /provision /savefile` writes it: base64 text in UTF-16LE with a BOM.
        var random = SystemRandomNumberGenerator()
        let blobText = Data((0..<1200).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
        let blobFile = world.scratch.file("join.djoin")
        _ = FileManager.default.createFile(atPath: blobFile.path, contents: Data([0xFF, 0xFE] + blobText.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))

        let name = world.name("boot")
        let run = try world.lcm.run(["deploy", "--image", "standin", "--device", device, "--name", name, "--computer-name", "PC-BOOTED",
                                     "--network", network, "--join-blob", blobFile.path, "--no-start", "--format", "json"])
        try #require(run.status == 0, "\(run.stderr)\n\(run.stdout)")
        let report = try JSONDecoder().decode(DeployReport.self, from: Data(run.stdout.utf8))
        let outcome = try #require(report.outcomes.first)
        #expect(outcome.storageBus == "sata")
        #expect(outcome.notes.contains { $0.contains("SATA") }, "\(outcome.notes)")
        #expect(outcome.notes.contains { $0.contains("domain join blob") && $0.contains("answer-files.purge") }, "\(outcome.notes)")
        #expect(!run.stdout.contains(blobText) && !run.stderr.contains(blobText))
        // lcm's own copies: nothing under its home (inventory, journal, run directories, logs) holds the blob.
        let grep = try ProgramRun.run("/bin/grep", ["-r", "-l", "-a", "-D", "skip", "-F", String(blobText.prefix(64)), world.home])
        #expect(grep.status == 1 && grep.stdout.isEmpty, "the blob is in lcm's home: \(grep.stdout)")

        func answerFiles() throws -> AnswerFileStatus {
            let status = try world.lcm.run(["manage", "patch", "status", name, "--format", "json"])
            try #require(status.status == 0, "\(status.stderr)\n\(status.stdout)")
            let read = try #require(try JSONDecoder.iso8601.decode([DesktopPatchStatus].self, from: Data(status.stdout.utf8)).first)
            #expect(read.readBack, "\(read)")
            return try #require(read.answerFiles, "\(read)")
        }
        let before = try answerFiles()
        #expect(before.state == .notYetBooted && before.secrets.contains("domain join blob"), "\(before)")
        #expect(before.paths.contains { $0.lowercased() == "/windows/panther/unattend.xml" }, "\(before)")
        let text = try world.lcm.run(["manage", "patch", "status", name])
        #expect(text.stdout.contains("answer files with secrets: not yet booted") && !text.stdout.contains(blobText), "\(text.stdout)")

        // The decrypted disk holds the blob now (so the search below can find it).
        let unbooted = try world.plainCopies([(name, "os")])
        let found = try ProgramRun.run("/bin/grep", ["-c", "-a", "-F", String(blobText.prefix(64)), unbooted[0]])
        #expect((Int(found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 1, "\(found.stdout) \(found.stderr)")
        try? FileManager.default.removeItem(atPath: unbooted[0])

        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "start", name]).status == 0)
        // Deployed by default with Secure Boot: libvirt chose the Secure Boot firmware and a VARS
        // template with Microsoft's keys (libvirt 9.0 shows the choice only while it runs).
        let live = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "dumpxml", name])
        try #require(live.status == 0, "\(live.stderr)")
        let definition = try XMLDocument(xmlString: live.stdout, options: [])
        #expect(try definition.nodes(forXPath: "/domain/os/loader/@secure").map { $0.stringValue ?? "" } == ["yes"], "\(live.stdout)")
        #expect(try definition.nodes(forXPath: "/domain/os/nvram/@template").map { $0.stringValue ?? "" }.first?.contains(".ms.") == true,
                "not Microsoft's keys: \(live.stdout)")

        // The stand-in powers itself off once it has written its boot record and run its queue.
        let domain = try world.waitForPowerOff(name, label: "deploy-tests")

        let after = try answerFiles()
        #expect(after.state == .removed && after.paths.isEmpty && after.exitCode == 0 && after.removedAt != nil, "\(after)")
        let shown = try world.lcm.run(["manage", "patch", "status", name])
        #expect(shown.stdout.contains("answer files with secrets: removed"), "\(shown.stdout)")

        let copy = try world.plainCopies([(name, "os")])
        let windows = DeployFixture.Disk.bootable.spec.layout.windowsPartition.number
        let output = try world.guestfish(copy, partition: windows) { _ in
            ["cat /\(BootRunnerContract.markerPath)", "cat /\(StandInBootProgram.firmwareLogPath)"]
        }
        let lines = output.split(whereSeparator: \.isNewline)
        let marker = lines.filter { !$0.hasPrefix("secure-boot=") }.joined(separator: "\n") + "\n"
        let records = try BootRunnerContract.parseMarker(marker)
        #expect(records.map(\.computerName) == ["PC-BOOTED"], "\(output)")
        // The guest's kernel found Secure Boot on: the signed chain was checked against Microsoft's keys.
        #expect(lines.filter { $0.hasPrefix("secure-boot=") } == ["secure-boot=enabled"], "\(output)")
        // Read with the appliance: no answer file left where Setup, sysprep or lcm put one.
        let listed = try world.guestfish(copy, partition: windows) { _ in
            ["find /Windows/Panther", "find /Windows/System32", "ls /"]
        }
        #expect(!listed.lowercased().contains("unattend"), "\(listed)")
        // Nor anywhere on the disk: the stand-in, like the runner, zeroes a file before deleting it.
        let raw = try ProgramRun.run("/bin/grep", ["-c", "-a", "-F", String(blobText.prefix(64)), copy[0]])
        #expect(raw.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the blob is still on the disk: \(raw.stdout)")

        // TPM state and NVRAM exist while the desktop does, and go with it.
        let uuid = try domain.uuidString.lowercased()
        #expect(FileManager.default.fileExists(atPath: "/var/lib/libvirt/swtpm/\(uuid)"))
        let undo = try world.lcm.run(["deploy", "--undo", name, "--discard-user-data"])
        #expect(undo.status == 0, "\(undo.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/libvirt/swtpm/\(uuid)"))
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/libvirt/qemu/nvram/\(name)_VARS.fd"))
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    /// kill -9 at each journaled step of a deploy's prepare (then `lcm recover` leaves nothing of
    /// the desktop), as its personalization batch starts, is staged and is running (the desktops
    /// wait, prepared), then a rerun: it completes, and nothing of the killed runs is left (domains,
    /// volumes, secrets, processes).
    @Test func killedBatchIsCompletedByTheRerun() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-K-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let names = ["one", "two"].map { world.name($0) }
        let csv = world.scratch.file("kill.csv")
        try "device,desktop,computer_name\n\(device),\(names[0]),PC-ONE\n\(device),\(names[1]),PC-TWO\n".write(to: csv, atomically: true, encoding: .utf8)
        let inventory = try world.inventory()
        let clock = ContinuousClock(), killsStarted = clock.now
        // Killed at each step of deploy-prepare (record, golden, key, volumes) as it starts, once it
        // ran and once recorded done, with one desktop alone so that no other prepare finishes
        // meanwhile: `lcm recover` undoes the desktop entirely, and each run gets past the point
        // where the one before it died. The batch rerun below deploys it.
        let single = ["deploy", "--image", "gold", "--device", device, "--name", names[0], "--computer-name", "PC-ONE", "--no-start"]
        for point in CrashRecovery.points(kind: "deploy-prepare", steps: ["record", "golden", "key", "volumes"]) {
            try CrashRecovery.kill(world.lcm, at: point, single)
            try CrashRecovery.recover(world.lcm, point: point, kind: "deploy-prepare")
            try world.expectNoDesktopLeft(point: point)
            try CrashRecovery.expectClean(world.lcm, point: point, kind: "deploy-prepare")
        }
        // Killed while preparing (the user-data layout written, then an encrypted header made):
        // lcm's local files are recorded before they exist, so `lcm recover` removes them.
        let runDirectory = URL(fileURLWithPath: world.home).appendingPathComponent("run").path
        func preparedFiles() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? [])
                .filter { $0.hasPrefix("new-") || $0.hasPrefix("userdata-") }
        }
        for point in ["deploy-prepare:layout-written:ran", "encrypted-volumes:header-made:ran"] {
            var early = world.lcm
            early.environment["LCM_FAILPOINT"] = point
            let killedEarly = try early.run(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start"])
            #expect(killedEarly.signaled && killedEarly.status == SIGKILL, "\(point): not killed: \(killedEarly.stderr)")
            #expect(!preparedFiles().isEmpty, "\(point): killed before its files existed")
            // Doctor names what the dead run left and says how to remove it.
            let doctor = try world.lcm.run(["doctor", "--quick", "--format", "json"])
            let leftoverCheck = try JSONDecoder().decode(DoctorReport.self, from: Data(doctor.stdout.utf8)).checks.first { $0.name == "temporary files" }
            #expect(leftoverCheck?.status == .warn && leftoverCheck?.detail.contains("left by runs that died") == true
                    && preparedFiles().allSatisfy { leftoverCheck?.detail.contains($0) == true }, "\(point): \(String(describing: leftoverCheck))")
            #expect(leftoverCheck?.fix?.contains("lcm recover") == true)
            let recovered = try world.lcm.run(["recover"])
            #expect(recovered.status == 0, "\(point): \(recovered.stderr)")
            #expect(preparedFiles().isEmpty, "\(point): left behind \(preparedFiles())")
        }

        // Killed once both are prepared: as the personalization batch starts, and with its disks
        // staged for the appliance. Recovery undoes the batch only; the desktops wait, prepared,
        // for the rerun.
        for point in ["disk-batch:batch:started", "disk-engine:prepared:ran"] {
            try CrashRecovery.kill(world.lcm, at: point, ["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start"])
            try CrashRecovery.recover(world.lcm, point: point, kind: "disk-batch")
            let stages = try inventory.read { db in try String.fetchAll(db, sql: "SELECT stage FROM desktop ORDER BY name") }
            #expect(stages == ["prepared", "prepared"], "\(point): \(stages)")
            try CrashRecovery.expectClean(world.lcm, point: point, kind: "disk-batch")
        }
        let spent = (clock.now - killsStarted).components
        print(String(format: "deploy-tests: kills at journaled steps and their recovery %.1f s", Double(spent.seconds) + Double(spent.attoseconds) / 1e18))

        var killer = world.lcm
        killer.environment["LCM_FAILPOINT"] = "disk-engine:launched:ran"
        let killed = try killer.run(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start"])
        #expect(killed.signaled && killed.status == SIGKILL, "not killed: \(killed.stderr)")

        let rerun = try world.lcm.run(["deploy", "--from-csv", csv.path, "--image", "gold", "--no-start", "--format", "json"])
        #expect(rerun.status == 0, "\(rerun.stderr)\n\(rerun.stdout)")
        let report = try JSONDecoder().decode(DeployReport.self, from: Data(rerun.stdout.utf8))
        #expect(report.outcomes.map(\.state) == [.deployed, .deployed], "\(report.outcomes.map { $0.error ?? "" })")
        #expect(ProcessTable.processes(mentioning: world.home).isEmpty, "a process of the killed run survived")
        let connection = try Connection(uri: DeployFixture.localURI)
        #expect(try connection.listAllDomains().map { try $0.name }.filter { $0.contains(world.tag) }.sorted() == names.sorted())
        for name in names {
            #expect(try world.lcm.run(["deploy", "--undo", name]).status == 0)
        }
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
        let live = try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM keyCopy WHERE destroyedAt IS NULL AND location != 'luks-keyslots'") }
        #expect(live == 0, "key copies of the killed run remain")
    }

    /// Two identical `lcm deploy --name D` started together on a new desktop (issue 27 item 14):
    /// the desktop is locked for the whole deploy, so one run deploys it and the other waits, then
    /// finds it deployed (or, still locked after its wait, exits 75 with a hint). A desktop is
    /// recorded complete only with the layers that were personalized: one whose layers were made
    /// again after personalization is personalized again by the rerun, never just defined. A run
    /// that holds keys has a core size limit of 0 (item 10).
    @Test func twoRunsOnOneNewDesktopDeployItOnce() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-L-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        let windows = DeployFixture.Disk.golden.spec.layout.windowsPartition.number
        let inventory = try world.inventory()
        let name = world.name("twice")
        let arguments = ["deploy", "--image", "gold", "--device", device, "--name", name, "--computer-name", "PC-TWICE",
                         "--no-start", "--format", "json"]
        let runs = try (0..<2).map { _ in try BackgroundRun(world, arguments) }

        // Measured on the run holding the desktop's lock once the desktop's key exists.
        let lockFile = FileLock(path: ObjectLock.path(home: LCMHome(url: URL(fileURLWithPath: world.home)), kind: "desktop", id: name))
        let clock = ContinuousClock(), started = clock.now
        func keyExists() -> Bool {
            ((try? inventory.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM desktop WHERE name = ? AND keyID IS NOT NULL", arguments: [name])
            }) ?? 0) == 1
        }
        while !keyExists(), runs.contains(where: \.process.isRunning), clock.now - started < .seconds(600) { Thread.sleep(forTimeInterval: 0.1) }
        let holder = try #require(lockFile.holderPID, "no run took the desktop's lock")
        let limits = try String(contentsOfFile: "/proc/\(holder)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?
            .dropFirst("Max core file size".count).split(separator: " ").map(String.init)
        #expect(core == ["0", "0", "bytes"], "lcm (pid \(holder)) holds keys with core limits \(String(describing: core))")

        let results = runs.map { $0.wait() }
        let reports = results.map { try? JSONDecoder().decode(DeployReport.self, from: Data($0.stdout.utf8)) }
        let deployed = reports.indices.filter { results[$0].status == 0 && reports[$0]?.outcomes.first?.state == .deployed }
        #expect(deployed.count == 1, "\(results.map { "\($0.status): \($0.stderr) \($0.stdout)" })")
        for index in reports.indices where !deployed.contains(index) {
            let result = results[index]
            let outcome = reports[index]?.outcomes.first
            let waitedAndSkipped = result.status == 0 && outcome?.state == .skipped && outcome?.notes == ["already deployed"]
            let busy = result.status == LCMExitCode.busy.rawValue && result.stderr.contains("desktop \(name) is locked by another lcm run")
                && result.stderr.contains("retry")
            #expect(waitedAndSkipped || busy, "the second run: \(result.status) \(result.stderr) \(result.stdout)")
            if waitedAndSkipped || busy { print("deploy-tests: the second run \(busy ? "gave up busy (75)" : "waited and found the desktop deployed")") }
        }

        // Killed right after the personalization was recorded; then the layers are made again, as
        // a run that did not wait for this one did (the same code, on the real pool).
        let remade = world.name("remade")
        var killer = world.lcm
        killer.environment["LCM_FAILPOINT"] = "deploy:personalized:recorded"
        let killed = try killer.run(["deploy", "--image", "gold", "--device", device, "--name", remade, "--computer-name", "PC-REMADE", "--no-start"])
        #expect(killed.signaled && killed.status == SIGKILL, "not killed: \(killed.stderr)")
        let row = try #require(try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT id, stage, settings, keyID FROM desktop WHERE name = ?", arguments: [remade])
        })
        #expect(row["stage"] as String? == "personalized")
        let settings = try JSONDecoder().decode(DesktopSettings.self, from: Data((row["settings"] as String).utf8))
        let golden = try #require(try inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT volume, path FROM hostImage WHERE uri = ?", arguments: [DeployFixture.localURI])
        })
        let pool = try DeviceStoragePool.open(named: settings.pool, on: try Connection(uri: settings.uri))
        _ = try DesktopVolumes.create(desktopID: row["id"], name: remade, settings: settings, golden: (volume: golden["volume"] as String, path: golden["path"] as String),
                                      keyID: row["keyID"], pool: pool, inventory: inventory)
        let rerun = try world.lcm.run(["deploy", "--image", "gold", "--device", device, "--name", remade, "--computer-name", "PC-REMADE",
                                       "--no-start", "--format", "json"])
        #expect(rerun.status == 0, "\(rerun.stderr)\n\(rerun.stdout)")
        let outcome = try JSONDecoder().decode(DeployReport.self, from: Data(rerun.stdout.utf8)).outcomes.first
        #expect(outcome?.state == .deployed && outcome?.notes.contains { $0.contains("not the ones personalized") } == true, "\(String(describing: outcome))")

        // The inventory and the disks agree: each complete desktop's OS layer carries its computer
        // name, and its layers are those personalization recorded.
        for desktop in [name, remade] {
            let state = try #require(try inventory.read { db in
                try Row.fetchOne(db, sql: """
                    SELECT d.stage, d.personalizedGeneration AS personalized, COUNT(v.id) AS volumes,
                           SUM(v.generation = d.personalizedGeneration) AS matching
                    FROM desktop d JOIN volume v ON v.desktopID = d.id WHERE d.name = ? GROUP BY d.id
                    """, arguments: [desktop])
            })
            #expect(state["stage"] as String? == "complete" && state["volumes"] as Int? == 2 && state["matching"] as Int? == 2, "\(desktop): \(state)")
        }
        let copies = try world.plainCopies([(name, "os"), (remade, "os")])
        let hives = world.scratch.file("hives-locked")
        try FileManager.default.createDirectory(at: hives, withIntermediateDirectories: true)
        _ = try world.guestfish(copies, partition: windows) { index in ["download /Windows/System32/config/SYSTEM \(hives.path)/SYSTEM-\(index)"] }
        for (index, expected) in ["PC-TWICE", "PC-REMADE"].enumerated() {
            let value = try ProgramRun.run("/usr/bin/hivexget", ["\(hives.path)/SYSTEM-\(index)", "ControlSet002\\Control\\ComputerName\\ComputerName", "ComputerName"])
            #expect(value.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(expected): \(value.stdout) \(value.stderr)")
        }
        let connection = try Connection(uri: DeployFixture.localURI)
        #expect(try connection.listAllDomains().map { try $0.name }.filter { $0.contains(world.tag) }.sorted() == [name, remade].sorted())
        for desktop in [name, remade] { try world.expectOK(["deploy", "--undo", desktop]) }
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func badRequestsAreRefusedAndLeaveNothing() throws {
        let world = try DeployWorld()
        defer { world.cleanUpHost() }
        let device = "DEV-X-\(world.tag)"
        try world.addDevice(device, uri: DeployFixture.localURI)
        try world.importImage(.golden, as: "gold")
        try world.importImage(.ungeneralized, as: "raw")
        let license = world.scratch.file("key.txt")
        try "VK7JG-NPHTM-C97JM-9MPGT-3V66T\n".write(to: license, atomically: true, encoding: .utf8)
        try world.expectOK(["procure", "license", "add", "none-left", "--product", "Windows 11 Pro", "--seats", "0", "--key-file", license.path])

        // A pool too small for the golden upload: a 16 MiB tmpfs (the golden file is over 40 MiB).
        let smallPool = "lcm-t\(world.tag)-small", smallDirectory = world.scratch.file("small-pool")
        try FileManager.default.createDirectory(at: smallDirectory, withIntermediateDirectories: true)
        try #require(try ProgramRun.run("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", smallDirectory.path]).status == 0)
        defer { _ = try? ProgramRun.run("/bin/umount", [smallDirectory.path]) }
        let poolMade = try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "pool-create-as", smallPool, "dir", "--target", smallDirectory.path])
        try #require(poolMade.status == 0, "\(poolMade.stderr)")
        defer { _ = try? ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "pool-destroy", smallPool]) }
        // A network that is defined but not running: the desktop could not start.
        let downNetwork = "lcm-t\(world.tag)-down", networkXML = world.scratch.file("down.xml")
        try "<network><name>\(downNetwork)</name><bridge name='lcmdn\(world.tag)'/></network>".write(to: networkXML, atomically: true, encoding: .utf8)
        try #require(try ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "net-define", networkXML.path]).status == 0)
        defer { _ = try? ProgramRun.run("/usr/bin/virsh", ["-c", DeployFixture.localURI, "net-undefine", downNetwork]) }

        let cases: [(String, [String], LCMExitCode)] = [
            ("quote in name", ["--name", "a'b"], .usage),
            ("markup in name", ["--name", "x<y>&z"], .usage),
            ("path in name", ["--name", "../etc"], .usage),
            ("non-ASCII name", ["--name", "bür"], .usage),
            ("long name", ["--name", String(repeating: "a", count: 200)], .usage),
            ("bad computer name", ["--name", world.name("ok"), "--computer-name", "12345"], .usage),
            ("os disk smaller than the image", ["--name", world.name("small"), "--os-disk", "1MiB"], .usage),
            ("ungeneralized image", ["--name", world.name("ungen"), "--image", "raw"], .conflict),
            ("unknown device", ["--name", world.name("nodev"), "--device", "NOPE"], .notFound),
            ("unknown image", ["--name", world.name("noimg"), "--image", "nothing"], .notFound),
            ("no free seat", ["--name", world.name("noseat"), "--license-pool", "none-left"], .conflict),
            ("unknown pool", ["--name", world.name("nopool"), "--pool", "lcm-t\(world.tag)-none"], .notFound),
            ("pool full", ["--name", world.name("full"), "--pool", smallPool], .cannotWrite),
        ]
        for (what, extra, code) in cases {
            var arguments = ["deploy", "--image", "gold", "--device", device, "--computer-name", "PC-OK", "--no-start"]
            // A repeated option's last value wins: each case's own values come last.
            arguments += extra
            let run = try world.lcm.run(arguments)
            #expect(run.status == code.rawValue, "\(what): exit \(run.status): \(run.stderr)")
            #expect(run.stderr.contains("lcm: error:"), "\(what): \(run.stderr)")
            #expect(!run.stderr.contains("VK7JG"), "\(what): the product key leaked")
        }
        let full = try world.lcm.run(["deploy", "--image", "gold", "--device", device, "--name", world.name("full"), "--pool", smallPool, "--no-start"])
        #expect(full.stderr.contains("storage pool '\(smallPool)'") && full.stderr.contains("free"), "\(full.stderr)")
        let down = try world.lcm.run(["deploy", "--image", "gold", "--device", device, "--name", world.name("down"), "--network", downNetwork])
        #expect(down.status == LCMExitCode.conflict.rawValue, "\(down.stderr)")
        #expect(down.stderr.contains("network '\(downNetwork)'") && down.stderr.contains("not running"), "\(down.stderr)")
        let smallPoolFiles = try FileManager.default.contentsOfDirectory(atPath: smallDirectory.path)
        #expect(smallPoolFiles.isEmpty, "\(smallPoolFiles)")
        let inventory = try world.inventory()
        #expect(try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM desktop") } == 0)
        #expect(try inventory.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM licenseSeat") } == 0)
        let leftovers = try world.hostLeftovers()
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}

/// An lcm run in the background, its output collected while it runs (so a full pipe never stalls it).
final class BackgroundRun: @unchecked Sendable {
    let process = Process()
    private let stdoutPipe = Pipe(), stderrPipe = Pipe()
    private var stdoutData = Data(), stderrData = Data()
    private let readers = DispatchGroup()

    init(_ world: DeployWorld, _ arguments: [String]) throws {
        process.executableURL = BuiltProducts.executable("lcm")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(world.lcm.environment.merging(["LCM_HOME": world.home]) { $1 }) { $1 }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        try process.run()
        for (pipe, isStdout) in [(stdoutPipe, true), (stderrPipe, false)] {
            readers.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                if isStdout { self.stdoutData = data } else { self.stderrData = data }
                self.readers.leave()
            }
        }
    }

    func wait() -> (status: Int32, stdout: String, stderr: String) {
        process.waitUntilExit()
        readers.wait()
        return (process.terminationStatus, String(decoding: stdoutData, as: UTF8.self), String(decoding: stderrData, as: UTF8.self))
    }
}
