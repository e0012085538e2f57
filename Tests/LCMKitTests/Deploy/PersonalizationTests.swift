import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import LCMKit
import LCMTestSupport
import Testing

/// Offline personalization and user-data disks against real libguestfs: every disk of the suite
/// goes through one `DiskEngine` batch (one appliance launch), and what was written is read back
/// outside lcm with guestfish, hivexget/hivexregedit and FoundationXML.
@Suite("Personalization (real libguestfs)", .serialized)
struct PersonalizationTests {
    // MARK: Values alone (no appliance)

    @Test func computerNamesFollowTheWindowsRule() throws {
        for good in ["A", "DESK-01", "lcm-0123456789a", "9lives", "x-1"] {
            #expect(throws: Never.self) { try DesktopPersonalization.validateComputerName(good) }
        }
        for bad in ["", "1234567890", "abcdefghijklmnop", "desk_01", "desk 01", "désk", "desk.example", "a\u{0}b"] {
            do {
                try DesktopPersonalization.validateComputerName(bad)
                Issue.record("accepted \(bad)")
            } catch let error as LCMError {
                #expect(error.code == .usage && error.code.rawValue == 64)
                #expect(error.message.contains("1 to 15 characters"), "\(error.message)")
            }
        }
    }

    @Test func freeTextAndTimeZonesAreChecked() throws {
        #expect(throws: LCMError.self) { try DesktopPersonalization(computerName: "PC1", registeredOwner: "a\u{7}b", timeZone: "UTC") }
        #expect(throws: LCMError.self) { try DesktopPersonalization(computerName: "PC1", registeredOwner: "line\nbreak", timeZone: "UTC") }
        #expect(throws: LCMError.self) { try DesktopPersonalization(computerName: "PC1", registeredOwner: "", timeZone: "UTC") }
        #expect(throws: LCMError.self) { try DesktopPersonalization(computerName: "PC1", registeredOwner: "o", timeZone: "Europe/Berlin") }
        #expect(throws: LCMError.self) { try DesktopPersonalization(computerName: "PC1", registeredOwner: "o", timeZone: " UTC") }
        let ok = try DesktopPersonalization(computerName: "PC1", registeredOwner: "Zoë <&> \"東京\"", timeZone: "UTC+12")
        #expect(ok.timeZone == "UTC+12")
    }

    @Test func joinBlobIsRedactedAndAcceptsDjoinSavefiles() throws {
        let text = Data((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }).base64EncodedString()
        let utf16: [UInt8] = [0xFF, 0xFE] + Array(text.utf8).flatMap { [$0, UInt8(0)] } + [0, 0]
        let blob = try OfflineDomainJoinBlob(savefileContents: utf16)
        #expect(blob.count == text.utf8.count)
        #expect(blob.withBytes { String(decoding: $0, as: UTF8.self) } == text)
        let personalization = try DesktopPersonalization(computerName: "PC1", registeredOwner: "o", timeZone: "UTC", domainJoin: blob)
        for shown in ["\(blob)", String(reflecting: blob), "\(personalization)", String(reflecting: personalization)] {
            #expect(!shown.contains(text.prefix(16)), "\(shown)")
        }
        do {
            _ = try OfflineDomainJoinBlob(base64Text: "not base64 at all! " + text)
            Issue.record("accepted a bad blob")
        } catch let error as LCMError {
            #expect(!error.description.contains(text.prefix(16)))
        }
    }

    @Test func theCatalogRecordSeedsWhatCopiesOfAnImageShare() throws {
        #expect(OfflineDisk.partitionNumber("/dev/sda3") == "3")
        #expect(OfflineDisk.partitionNumber("/dev/sdc12") == "12")
        #expect(OfflineDisk.partitionNumber("/dev/sda") == "")
        var record = WindowsInspection()
        record.generalization.imageState = "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"
        record.answerFiles = [AnswerFile(path: "/Windows/Panther/unattend.xml", secrets: ["password", "product key"], declaresEntities: false)]
        let seeded = GoldenFacts(inspection: record)
        #expect(seeded.imageState == .some("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"))
        #expect(seeded.leftoverAnswerFileSecrets == ["password", "product key"])
        #expect(seeded.layout == nil, "where Windows is gets checked on the first disk")
        let unseeded = GoldenFacts()
        #expect(unseeded.imageState == nil && unseeded.leftoverAnswerFileSecrets == nil)
    }

    // MARK: One batch, every disk

    static let generalizedSpec = WindowsDiskSpec { $0.computerName = "LCM-PERS-CS2"; $0.generalized = true; $0.controlSet = 2 }
    static let plainSpec = DiskFixtures.baseSpec
    static let hibernatedSpec = WindowsDiskSpec {
        $0.fault = .hibernated; $0.computerName = "LCM-IMG-HIBR"; $0.generalized = true; $0.virtioDrivers = true
    }
    static let answerFileSpec = WindowsDiskSpec {
        $0.fault = .leftoverAnswerFile; $0.computerName = "LCM-IMG-ANSWER"; $0.generalized = true; $0.virtioDrivers = true
    }
    static let entitySpec = WindowsDiskSpec {
        $0.fault = .entityAnswerFile; $0.computerName = "LCM-IMG-ENTITY"; $0.generalized = true; $0.virtioDrivers = true
    }

    /// What the work closure saw per disk (strings only, so it is Sendable).
    struct Seen: Sendable {
        var reports: [String] = []
        var errors: [String] = []
        var errorCodes: [Int32] = []
        var migrations: [UserDataMigrationReport] = []
        var listingBeforeRefusal: [String] = []
        var listingAfterRefusal: [String] = []
        var userDataPartition = ""
        var answerFileFlags: [String] = []
    }

    /// The user-data disk's layout as lcm writes it on its own machine: a GPT sgdisk finds valid,
    /// one basic-data partition holding NTFS labelled UserData (blkid, independent of lcm), the
    /// file still sparse, and no two disks sharing the disk GUID, partition GUID or volume serial.
    @Test func userDataLayoutIsWrittenOnTheHostWithItsOwnIdentifiers() throws {
        let scratch = ScratchDirectory(prefix: "lcm-userdata-layout")
        let size: UInt64 = 3 << 30
        var identities: [String] = []
        for name in ["one.raw", "two.raw"] {
            let path = scratch.file(name).path
            try UserDataDisk.writeBlankLayout(to: path, virtualSize: size)
            #expect(!FileManager.default.fileExists(atPath: path + ".partition"), "the partition's scratch file is removed")
            var info = stat()
            #expect(stat(path, &info) == 0 && UInt64(info.st_size) == size)
            #expect(Int64(info.st_blocks) * 512 < 64 << 20, "only the metadata is allocated: \(info.st_blocks * 512) bytes")
            let verified = try ProgramRun.run("/usr/sbin/sgdisk", ["--verify", path])
            #expect(verified.stdout.contains("No problems found"), "\(verified.stdout)\(verified.stderr)")
            let partition = try ProgramRun.run("/usr/sbin/sgdisk", ["--info=1", path])
            #expect(partition.stdout.contains("Partition GUID code: \(UserDataDisk.basicDataPartitionType)"), "\(partition.stdout)")
            #expect(partition.stdout.contains("First sector: 2048"), "\(partition.stdout)")
            let filesystem = try ProgramRun.run("/usr/sbin/blkid", ["-p", "-O", String(2048 * 512), "-o", "export", path])
            #expect(filesystem.stdout.contains("TYPE=ntfs") && filesystem.stdout.contains("LABEL=\(UserDataDisk.volumeLabel)"),
                    "\(filesystem.stdout)\(filesystem.stderr)")
            let disk = try ProgramRun.run("/usr/sbin/sgdisk", ["--print", path])
            let diskGUID = disk.stdout.split(separator: "\n").first { $0.hasPrefix("Disk identifier (GUID)") } ?? ""
            let uniqueGUID = partition.stdout.split(separator: "\n").first { $0.hasPrefix("Partition unique GUID") } ?? ""
            let serial = filesystem.stdout.split(separator: "\n").first { $0.hasPrefix("UUID=") } ?? ""
            #expect(!diskGUID.isEmpty && !uniqueGUID.isEmpty && !serial.isEmpty)
            identities += [String(diskGUID), String(uniqueGUID), String(serial)]
        }
        #expect(Set(identities).count == identities.count, "two disks share an identifier: \(identities)")
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["LCM_SKIP_APPLIANCE_TESTS"] != "1"))
    func personalizesDisksAndMigratesUserDataInOneLaunch() throws {
        let scratch = ScratchDirectory(prefix: "lcm-personalize")
        let inventory = try DiskTestTools.inventory(scratch)
        let builder = DiskFixtures.shared.builder
        let specs = [Self.generalizedSpec, Self.plainSpec, Self.hibernatedSpec, Self.answerFileSpec, Self.entitySpec]
        let names = ["generalized", "plain", "hibernated", "answer", "entity"]
        let buildStart = ContinuousClock.now
        let images = try builder.images(for: specs)
        print("personalize: fixtures ready in \(ContinuousClock.now - buildStart)")
        var paths: [String: String] = [:]
        for (name, image) in zip(names, images) {
            // Overlays: the cache is never written.
            paths[name] = try builder.place(image, at: scratch.file("\(name).qcow2"), placement: .overlay).url.path
        }
        let blank = scratch.file("userdata.qcow2").path
        _ = try run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", blank, "1G"])
        paths["userdata"] = blank
        let hibernatedBefore = try FileDigest.sha256(path: paths["hibernated"]!)

        let archives = try UserDataArchives(scratch)
        let blobText = Data((0..<900).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let blob = try OfflineDomainJoinBlob(base64Text: blobText)
        let owner = "Zoë \"O'Brien\" <admin> & Co ]]> 東京 Ω"
        let organization = "R&D <Team> 'Ünïcödé' & \"quotes\""
        let generalized = try DesktopPersonalization(computerName: "Lcm-Desk-0042", registeredOwner: owner,
                                                     registeredOrganization: organization, timeZone: "W. Europe Standard Time",
                                                     domainJoin: blob)
        let plain = try DesktopPersonalization(computerName: "plain-pc7", registeredOwner: "Plain Owner",
                                               registeredOrganization: "", timeZone: "Tokyo Standard Time")
        let merged = try DesktopPersonalization(computerName: "MERGED1", registeredOwner: "Merge Owner",
                                                registeredOrganization: "Merge Org", timeZone: "UTC", domainJoin: blob)

        let order = ["generalized", "plain", "hibernated", "answer", "entity", "userdata"]
        let volumes = order.map { DiskVolume.file(paths[$0]!, name: $0) }
        let tempBefore = Self.privateTemporaryDirectories()
        let start = ContinuousClock.now
        let batch = try DiskBatch.run(inventory: inventory, objectID: "personalize-test", volumes: volumes,
                                      options: DiskTestEnvironment.options) { disk -> Seen in
            var seen = Seen()
            func attempt(_ body: () throws -> Void) {
                do { try body() } catch let error as LCMError {
                    seen.errors.append(error.description); seen.errorCodes.append(error.code.rawValue)
                } catch {
                    seen.errors.append("\(error)"); seen.errorCodes.append(-1)
                }
            }
            switch disk.volume.name {
            case "generalized":
                try Self.seedTimeZoneList(disk)
                // An ID the image's list lacks is refused before anything is written.
                let unknown = try DesktopPersonalization(computerName: "X1", registeredOwner: "x", timeZone: "Mars Standard Time")
                attempt { _ = try DesktopPersonalizer.apply(unknown, to: disk, generalized: true) }
                attempt { seen.reports.append(try DesktopPersonalizer.apply(generalized, to: disk, generalized: true).description) }
            case "plain":
                // A join blob needs the specialize pass: refused on an image that is not generalized.
                attempt { _ = try DesktopPersonalizer.apply(generalized, to: disk, generalized: false) }
                // So is a generalized flag the image's ImageState contradicts.
                attempt { _ = try DesktopPersonalizer.apply(plain, to: disk, generalized: true) }
                attempt { seen.reports.append(try DesktopPersonalizer.apply(plain, to: disk, generalized: false).description) }
            case "hibernated":
                attempt { _ = try DesktopPersonalizer.apply(generalized, to: disk, generalized: true) }
            case "answer":
                attempt { seen.reports.append(try DesktopPersonalizer.apply(merged, to: disk, generalized: true).description) }
            case "entity":
                // An answer file declaring an external entity: flagged by inspection, never parsed.
                let inspection = try WindowsInspector.inspect(disk)
                seen.answerFileFlags = inspection.answerFiles.map { "\($0.path):\($0.declaresEntities == true)" }
                seen.reports += ImageReadiness.problems(inspection).map(\.id)
                // With the catalog's record of the disk, as deploy passes it: Windows is not searched for again.
                attempt { _ = try DesktopPersonalizer.apply(merged, to: disk, generalized: true, golden: GoldenFacts(inspection: inspection)) }
            case "userdata":
                seen.userDataPartition = try UserDataDisk.prepare(disk)
                attempt { try UserDataDisk.prepare(disk) }   // not blank any more: refused
                seen.migrations.append(try UserDataDisk.migrate(archive: archives.targz, into: disk))
                seen.migrations.append(try UserDataDisk.migrate(archive: archives.zip, into: disk, directory: "/Imported"))
                try disk.session.mount(seen.userDataPartition, options: "big_writes")
                seen.listingBeforeRefusal = try disk.session.find("/")
                try disk.session.umountAll()
                attempt { _ = try UserDataDisk.migrate(archive: archives.evilDotDot, into: disk) }
                attempt { _ = try UserDataDisk.migrate(archive: archives.evilSymlink, into: disk) }
                attempt { _ = try UserDataDisk.migrate(archive: archives.windowsInvalidName, into: disk) }
                try disk.session.mountReadOnly(seen.userDataPartition)
                seen.listingAfterRefusal = try disk.session.find("/")
                try disk.session.umountAll()
            default:
                break
            }
            return seen
        }
        print(String(format: "personalize: batch of %d disks %.1f s, %d launch(es) (launching %.1f, working %.1f)",
                     volumes.count, DiskTestTools.seconds(since: start), batch.launches, batch.secondsLaunching, batch.secondsWorking))
        #expect(batch.launches == 1)
        #expect(batch.failed.isEmpty, "\(batch.failed.map { "\($0.volume.name): \(String(describing: $0.failure))" })")
        let seen = Dictionary(uniqueKeysWithValues: batch.results.compactMap { result in result.value.map { (result.volume.name, $0) } })
        #expect(Self.privateTemporaryDirectories() == tempBefore, "private directories left behind")

        // What lcm said, per disk.
        let generalizedSeen = try #require(seen["generalized"])
        #expect(generalizedSeen.errorCodes == [64] && generalizedSeen.errors.first?.contains("Mars Standard Time") == true,
                "\(generalizedSeen.errors)")
        #expect(generalizedSeen.reports.first?.contains("join blob: present, \(blobText.utf8.count) bytes") == true)
        #expect(generalizedSeen.reports.first?.contains("ControlSet002") == true)
        #expect(generalizedSeen.reports.first?.contains("checked against: image") == true)
        // The blob stays in the answer file only until Setup is done: the boot queue removes it.
        let cleanupLine = "every copy removed after Setup by boot queue item \(BootRunnerContract.answerFileCleanup().fileName)"
        #expect(generalizedSeen.reports.first?.contains("answer files hold domain join blob: " + cleanupLine) == true,
                "\(generalizedSeen.reports)")
        #expect(seen["plain"]?.reports.first?.contains(cleanupLine) == false, "nothing secret on the plain disk")
        // The image's own answer file had a password and a product key: merged in, removed with it.
        #expect(seen["answer"]?.reports.first?.contains("answer files hold domain join blob, password, product key: " + cleanupLine) == true,
                "\(String(describing: seen["answer"]))")
        let plainSeen = try #require(seen["plain"])
        #expect(plainSeen.errorCodes == [64, 4], "\(plainSeen.errors)")
        #expect(plainSeen.reports.first?.contains("join blob: none") == true)
        let hibernatedSeen = try #require(seen["hibernated"])
        #expect(hibernatedSeen.errorCodes == [4] && hibernatedSeen.errors.first?.contains("hibernated") == true, "\(hibernatedSeen.errors)")
        #expect(seen["answer"]?.reports.first?.contains("merged into the existing one") == true, "\(String(describing: seen["answer"]))")
        let userData = try #require(seen["userdata"])
        #expect(userData.errorCodes == [4, 65, 65, 65], "\(userData.errors)")
        #expect(userData.errors.count == 4 && userData.errors[1].contains("../evil"), "\(userData.errors)")
        #expect(userData.errors.count == 4 && userData.errors[2].contains("escape"), "\(userData.errors)")
        #expect(userData.errors.count == 4 && userData.errors[3].contains("what?.txt"), "\(userData.errors)")
        #expect(userData.listingBeforeRefusal == userData.listingAfterRefusal, "a refused archive wrote something")
        #expect(!userData.listingAfterRefusal.contains { $0.contains("evil") || $0.contains("escape") || $0.contains("what") })
        #expect(userData.migrations.map(\.files) == [archives.expectedFiles.count, archives.expectedFiles.count])
        #expect(userData.migrations.map(\.bytes) == [archives.expectedBytes, archives.expectedBytes])

        // The join blob never reaches anything lcm prints.
        let printed = seen.values.flatMap { $0.reports + $0.errors } + ["\(generalized)", "\(merged)"]
        for text in printed { #expect(!text.contains(blobText.prefix(24)), "blob text in: \(text)") }

        // The refused hibernated disk is unchanged, byte for byte.
        #expect(try FileDigest.sha256(path: paths["hibernated"]!) == hibernatedBefore)

        // The answer file with an external entity: inspection flags it as a blocker, and
        // personalization refuses it (exit 65) before reading the host file or writing anything
        // (its answer file and hives are read back below).
        let entitySeen = try #require(seen["entity"])
        #expect(entitySeen.answerFileFlags == ["\(WindowsDiskSpec.leftoverAnswerFilePath):true"], "\(entitySeen.answerFileFlags)")
        #expect(entitySeen.reports.contains("answer-file-entities"), "\(entitySeen.reports)")
        #expect(entitySeen.errorCodes == [65] && entitySeen.errors.first?.contains("<!DOCTYPE") == true, "\(entitySeen.errors)")

        // Read back outside lcm: one guestfish run over every disk.
        let out = scratch.file("readback")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var script = ["run"]
        let windowsDisks = ["generalized", "plain", "answer", "entity"]
        for (index, name) in order.enumerated() {
            let device = "/dev/sd" + String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))
            if let spec = Dictionary(uniqueKeysWithValues: zip(names, specs))[name], windowsDisks.contains(name) {
                script += ["mount-ro \(device)\(spec.layout.windowsPartition.number) /",
                           "download /Windows/System32/config/SYSTEM \(out.path)/\(name).SYSTEM",
                           "download /Windows/System32/config/SOFTWARE \(out.path)/\(name).SOFTWARE",
                           name == "plain" ? "is-file /Windows/Panther/unattend.xml | cat > \(out.path)/plain.has-unattend"
                               : "download /Windows/Panther/unattend.xml \(out.path)/\(name).unattend.xml",
                           "is-file /\(BootRunnerContract.manifestPath) | cat > \(out.path)/\(name).has-queue",
                           "umount-all"]
            } else if name == "userdata" {
                script += ["vfs-label \(device)1 | cat > \(out.path)/userdata.label",
                           "mount-ro \(device)1 /", "find / | cat > \(out.path)/userdata.find"]
                for (file, _) in archives.expectedFiles {
                    // download, not cat: byte-exact (guestfish's cat prints text).
                    script.append("download \"/\(file)\" \"\(out.path)/root-\(file.replacingOccurrences(of: "/", with: "_"))\"")
                    script.append("download \"/Imported/\(file)\" \"\(out.path)/imported-\(file.replacingOccurrences(of: "/", with: "_"))\"")
                }
                script.append("cat /readme.txt | cat > \(out.path)/readme.cat")
                script.append("umount-all")
            }
        }
        try script.joined(separator: "\n").write(to: scratch.file("readback.gf"), atomically: true, encoding: .utf8)
        let readStart = ContinuousClock.now
        let fish = try run("/usr/bin/guestfish", ["--ro", "-f", scratch.file("readback.gf").path] + order.flatMap { ["-a", paths[$0]!] },
                           environment: ["LIBGUESTFS_BACKEND": "direct",
                                         "LIBGUESTFS_BACKEND_SETTINGS": LCMRunner.testAccelerator == "tcg" ? "force_tcg" : ""])
        print("personalize: guestfish read-back \(ContinuousClock.now - readStart)")
        try #require(fish.status == 0, "\(fish.stderr)")

        func hive(_ file: String, _ key: String, _ value: String) throws -> String {
            try run("/usr/bin/hivexget", ["\(out.path)/\(file)", key, value]).stdout.trimmingCharacters(in: .newlines)
        }
        // Generalized disk, control set 2: the current set changed, the stale ControlSet001 not.
        #expect(try hive("generalized.SYSTEM", "Select", "Current") == "2")
        #expect(try hive("generalized.SYSTEM", "ControlSet002\\Control\\ComputerName\\ComputerName", "ComputerName") == "LCM-DESK-0042")
        #expect(try hive("generalized.SYSTEM", "ControlSet002\\Services\\Tcpip\\Parameters", "Hostname") == "Lcm-Desk-0042")
        #expect(try hive("generalized.SYSTEM", "ControlSet002\\Services\\Tcpip\\Parameters", "NV Hostname") == "Lcm-Desk-0042")
        #expect(try hive("generalized.SYSTEM", "ControlSet002\\Control\\TimeZoneInformation", "TimeZoneKeyName") == "W. Europe Standard Time")
        #expect(try hive("generalized.SYSTEM", "ControlSet002\\Control\\TimeZoneInformation", "StandardName") == "@tzres.dll,-321")
        #expect(try hive("generalized.SYSTEM", "ControlSet001\\Control\\ComputerName\\ComputerName", "ComputerName")
                    == WindowsRegistryContent.staleComputerName)
        // A generalized image gets the owner through the answer file (checked below): Setup writes
        // it at specialize, so SOFTWARE (60 MiB in a real image) is not rewritten.
        #expect(try hive("generalized.SOFTWARE", "Microsoft\\Windows NT\\CurrentVersion", "RegisteredOwner") != owner)
        #expect(try hive("generalized.SOFTWARE", "Microsoft\\Windows NT\\CurrentVersion", "RegisteredOrganization") != organization)
        // REG_SZ, UTF-16LE with the terminating NUL, as Windows stores it.
        let export = try run("/usr/bin/hivexregedit", ["--export", "\(out.path)/generalized.SYSTEM",
                                                       "ControlSet002\\Control\\ComputerName\\ComputerName"]).stdout
        let expectedHex = (Array("LCM-DESK-0042".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } + [0, 0])
            .map { String(format: "%02x", $0) }.joined(separator: ",")
        #expect(export.contains("\"ComputerName\"=hex(1):\(expectedHex)"), "\(export)")
        // Ungeneralized disk: registry only, no answer file.
        #expect(try hive("plain.SYSTEM", "ControlSet001\\Control\\ComputerName\\ComputerName", "ComputerName") == "PLAIN-PC7")
        #expect(try hive("plain.SYSTEM", "ControlSet001\\Services\\Tcpip\\Parameters", "Hostname") == "plain-pc7")
        #expect(try hive("plain.SYSTEM", "ControlSet001\\Control\\TimeZoneInformation", "TimeZoneKeyName") == "Tokyo Standard Time")
        #expect(try hive("plain.SOFTWARE", "Microsoft\\Windows NT\\CurrentVersion", "RegisteredOwner") == "Plain Owner")
        #expect(try hive("plain.SOFTWARE", "Microsoft\\Windows NT\\CurrentVersion", "RegisteredOrganization") == "")
        #expect(try String(contentsOfFile: "\(out.path)/plain.has-unattend", encoding: .utf8).hasPrefix("false"))
        // The answer-file cleanup: queued where the answer file holds a secret, with the runner
        // registered (its Group Policy state in SOFTWARE); nothing queued on the plain disk.
        for name in ["generalized", "answer"] {
            #expect(try String(contentsOfFile: "\(out.path)/\(name).has-queue", encoding: .utf8).hasPrefix("true"), "\(name)")
            #expect(try hive("\(name).SOFTWARE", "Policies\\Microsoft\\Windows\\System", "MaxGPOScriptWait") == "0", "\(name)")
        }
        #expect(try String(contentsOfFile: "\(out.path)/plain.has-queue", encoding: .utf8).hasPrefix("false"))
        // The refused disk: its answer file byte for byte as built, its computer name untouched.
        #expect(try String(contentsOfFile: "\(out.path)/entity.unattend.xml", encoding: .utf8)
                    == UnattendAnswerFile.entityXML(for: Self.entitySpec))
        #expect(try hive("entity.SYSTEM", "ControlSet001\\Control\\ComputerName\\ComputerName", "ComputerName") == "LCM-IMG-ENTITY")

        // The answer files, element by element.
        let fresh = try Self.specialize(try Data(contentsOf: URL(fileURLWithPath: "\(out.path)/generalized.unattend.xml")))
        #expect(fresh.passes == ["specialize"])
        try Self.expectShellSetup(fresh.components, computerName: "Lcm-Desk-0042", owner: owner, organization: organization,
                                  timeZone: "W. Europe Standard Time")
        try Self.expectJoin(fresh.components, blobText: blobText)
        #expect(try run("/usr/bin/xmllint", ["--noout", "\(out.path)/generalized.unattend.xml"]).status == 0)

        let mergedFile = try Self.specialize(try Data(contentsOf: URL(fileURLWithPath: "\(out.path)/answer.unattend.xml")))
        #expect(mergedFile.passes == ["windowsPE", "specialize", "oobeSystem"], "the other passes survive the merge")
        try Self.expectShellSetup(mergedFile.components, computerName: "MERGED1", owner: "Merge Owner", organization: "Merge Org",
                                  timeZone: "UTC")
        try Self.expectJoin(mergedFile.components, blobText: blobText)
        let shell = try #require(mergedFile.components.first { SpecializeAnswerFile.attribute($0, "name") == "Microsoft-Windows-Shell-Setup" })
        #expect(shell.elements(forLocalName: "ProductKey", uri: SpecializeAnswerFile.namespace).count == 1,
                "settings lcm does not own are kept")
        #expect(shell.elements(forLocalName: "ComputerName", uri: SpecializeAnswerFile.namespace).count == 1)

        // User data, listed back with guestfish.
        let listing = Set(try String(contentsOfFile: "\(out.path)/userdata.find", encoding: .utf8).split(separator: "\n").map(String.init))
        #expect(try String(contentsOfFile: "\(out.path)/userdata.label", encoding: .utf8).trimmingCharacters(in: .newlines) == "UserData")
        for (file, content) in archives.expectedFiles {
            #expect(listing.contains(file) && listing.contains("Imported/" + file), "\(file) missing from \(listing.sorted())")
            let flat = file.replacingOccurrences(of: "/", with: "_")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(out.path)/root-\(flat)")) == content, "\(file)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(out.path)/imported-\(flat)")) == content, "\(file)")
        }
        #expect(try String(contentsOfFile: "\(out.path)/readme.cat", encoding: .utf8).hasPrefix("hello"))
        #expect(listing.contains("Leer") && listing.contains("Imported/Leer"), "empty folders survive")
        #expect(!listing.contains { $0.contains("evil") || $0.contains("escape") })
    }

    // MARK: Helpers

    /// Adds a `Time Zones` list to the image (the fixture has none), so the zone is checked against
    /// it and its offsets are copied.
    static func seedTimeZoneList(_ disk: DiskAccess) throws {
        let g = disk.session
        try DiskTestTools.mountWindows(disk)
        defer { try? g.umountAll() }
        try g.withHive(try g.caseSensitivePath("/Windows/System32/config/SOFTWARE"), write: true) { g in
            let zones = "Microsoft\\Windows NT\\CurrentVersion\\Time Zones\\"
            let europe = try #require(try g.node(atPath: zones + "W. Europe Standard Time", create: true))
            func long(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
            func systemTime(month: UInt16, day: UInt16, hour: UInt16) -> [UInt8] {
                [0, month, 0, day, hour, 0, 0, 0].flatMap { (v: UInt16) in [UInt8(v & 0xFF), UInt8(v >> 8)] }
            }
            let tzi = long(-60) + long(0) + long(-60) + systemTime(month: 10, day: 5, hour: 3) + systemTime(month: 3, day: 5, hour: 2)
            try g.nodeSetValue(europe, key: "TZI", .binary(tzi))
            try g.nodeSetValue(europe, key: "MUI_Std", .string("@tzres.dll,-321"))
            try g.nodeSetValue(europe, key: "MUI_Dlt", .string("@tzres.dll,-322"))
            _ = try g.node(atPath: zones + "UTC", create: true)
        }
    }

    static func specialize(_ data: Data) throws -> (passes: [String], components: [XMLElement]) {
        let document = try XMLDocument(data: data)
        let root = try #require(document.rootElement())
        #expect(root.localName == "unattend" && root.uri == "urn:schemas-microsoft-com:unattend")
        let ns = SpecializeAnswerFile.namespace
        let settings = root.elements(forLocalName: "settings", uri: ns)
        let specialize = try #require(settings.first { SpecializeAnswerFile.attribute($0, "pass") == "specialize" })
        let components = specialize.elements(forLocalName: "component", uri: ns)
        for component in components {
            #expect(SpecializeAnswerFile.attribute(component, "processorArchitecture") == "amd64")
            #expect(SpecializeAnswerFile.attribute(component, "publicKeyToken") == "31bf3856ad364e35")
            #expect(SpecializeAnswerFile.attribute(component, "language") == "neutral")
            #expect(SpecializeAnswerFile.attribute(component, "versionScope") == "nonSxS")
        }
        return (settings.compactMap { SpecializeAnswerFile.attribute($0, "pass") }, components)
    }

    static func expectShellSetup(_ components: [XMLElement], computerName: String, owner: String, organization: String,
                                 timeZone: String) throws {
        let ns = SpecializeAnswerFile.namespace
        let shell = try #require(components.first { SpecializeAnswerFile.attribute($0, "name") == "Microsoft-Windows-Shell-Setup" })
        func value(_ name: String) -> String? { shell.elements(forLocalName: name, uri: ns).first?.stringValue }
        #expect(value("ComputerName") == computerName)
        #expect(value("RegisteredOwner") == owner)
        #expect(value("RegisteredOrganization") == organization)
        #expect(value("TimeZone") == timeZone)
    }

    static func expectJoin(_ components: [XMLElement], blobText: String) throws {
        let ns = SpecializeAnswerFile.namespace
        let join = try #require(components.first { SpecializeAnswerFile.attribute($0, "name") == "Microsoft-Windows-UnattendedJoin" })
        let identification = try #require(join.elements(forLocalName: "Identification", uri: ns).first)
        let provisioning = try #require(identification.elements(forLocalName: "Provisioning", uri: ns).first)
        let accountData = try #require(provisioning.elements(forLocalName: "AccountData", uri: ns).first)
        #expect(accountData.stringValue == blobText)
        #expect(join.elements(forLocalName: "Identification", uri: ns).count == 1)
    }

    static func privateTemporaryDirectories() -> Set<String> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)) ?? []
        return Set(names.filter { $0.hasPrefix("lcm-userdata.") })
    }

    struct ToolRun { var status: Int32; var stdout: String; var stderr: String }

    @discardableResult
    func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws -> ToolRun {
        try Self.run(tool, arguments, environment: environment, directory: directory)
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) throws -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let stdout = scratchFile(), stderr = scratchFile()
        defer { try? FileManager.default.removeItem(at: stdout); try? FileManager.default.removeItem(at: stderr) }
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        try process.run()
        process.waitUntilExit()
        return ToolRun(status: process.terminationStatus,
                       stdout: (try? String(contentsOf: stdout, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: stderr, encoding: .utf8)) ?? "")
    }

    static func scratchFile() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lcm-tool-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: url.path, contents: nil)
        return url
    }
}

/// A user's old data as a tar.gz and a zip (made by GNU tar and Python, not by lcm), and
/// hostile archives that must be refused.
struct UserDataArchives {
    let targz: URL
    let zip: URL
    let evilDotDot: URL
    let evilSymlink: URL
    let windowsInvalidName: URL
    /// Relative path -> content.
    let expectedFiles: [(String, Data)]
    var expectedBytes: Int64 { expectedFiles.reduce(0) { $0 + Int64($1.1.count) } }

    init(_ scratch: ScratchDirectory) throws {
        let tree = scratch.file("olddata")
        var files: [(String, Data)] = [
            ("Documents/Berichte/Größe übersicht.txt", Data("Grüße aus München\n".utf8)),
            ("Bilder/東京/写真 1.txt", Data("東京タワー\n".utf8)),
            ("Musik/a b/c d/liste.m3u", Data(repeating: 0x41, count: 70_000)),
            ("readme.txt", Data("hello\r\n".utf8)),
        ]
        files.sort { $0.0 < $1.0 }
        for (path, content) in files {
            let url = tree.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: url)
        }
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("Leer"), withIntermediateDirectories: true)
        expectedFiles = files
        targz = scratch.file("olddata.tar.gz")
        zip = scratch.file("olddata.zip")
        evilDotDot = scratch.file("evil.tar.xz")
        evilSymlink = scratch.file("escape.tar")
        windowsInvalidName = scratch.file("invalid.tar.zst")
        let utf8 = ["LC_ALL": "C.UTF-8"]
        try Self.expect(PersonalizationTests.run("/bin/tar", ["-czf", targz.path, "-C", tree.path, "."], environment: utf8))
        let python = """
            import os, sys, tarfile, zipfile, io
            tree, zpath, evil, escape = sys.argv[1:5]
            with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
                for dirpath, dirs, names in os.walk(tree):
                    rel = os.path.relpath(dirpath, tree)
                    if rel != "." and not names and not dirs:
                        z.writestr(rel + "/", b"")
                    for n in names:
                        full = os.path.join(dirpath, n)
                        z.write(full, os.path.relpath(full, tree))
            def add(t, name, data=b"x", kind=tarfile.REGTYPE, target=""):
                info = tarfile.TarInfo(name); info.type = kind; info.linkname = target; info.size = len(data) if kind == tarfile.REGTYPE else 0
                t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
            with tarfile.open(evil, "w:xz") as t:
                add(t, "fine.txt"); add(t, "../evil", b"owned")
            with tarfile.open(escape, "w") as t:
                add(t, "docs/escape", kind=tarfile.SYMTYPE, target="../../etc")
            """
        try Self.expect(PersonalizationTests.run("/usr/bin/env", ["python3", "-c", python, tree.path, zip.path, evilDotDot.path,
                                                                  evilSymlink.path], environment: utf8))
        let invalid = scratch.file("invalid")
        try FileManager.default.createDirectory(at: invalid, withIntermediateDirectories: true)
        try Data("?".utf8).write(to: invalid.appendingPathComponent("what?.txt"))
        try Self.expect(PersonalizationTests.run("/bin/tar", ["--zstd", "-cf", windowsInvalidName.path, "-C", invalid.path, "."],
                                                 environment: utf8))
    }

    static func expect(_ run: PersonalizationTests.ToolRun) throws {
        guard run.status == 0 else { throw LCMError(.failure, "building a test archive failed: \(run.stderr)") }
    }
}
