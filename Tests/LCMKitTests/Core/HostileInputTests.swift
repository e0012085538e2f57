import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import LCMKit
import LCMTestSupport
import Testing

/// Input from outside that tries to make lcm (root) read what it was not given: crafted disk
/// images, special files, XML with entities. Real qemu-img reads every crafted image.
struct HostileInputTests {
    // MARK: Files handed to lcm

    @Test func onlyRegularFilesAndNamedBlockDevicesAreOpened() throws {
        let scratch = ScratchDirectory(prefix: "lcm-input-file")
        let fifo = scratch.file("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let start = ContinuousClock.now
        // A FIFO would block a plain open for reading until a writer came: refused at once.
        let fifoError = #expect(throws: LCMError.self) { try InputFile(fifo, what: "disk image file", allowBlockDevice: true) }
        #expect(fifoError?.code == .notFound && fifoError?.message.contains("FIFO") == true, "\(String(describing: fifoError))")
        #expect(ContinuousClock.now - start < .seconds(2))
        let zero = #expect(throws: LCMError.self) { try InputFile("/dev/zero", what: "CSV file") }
        #expect(zero?.message.contains("character device") == true && zero?.message.contains("permission") == false)
        let directory = #expect(throws: LCMError.self) { try InputFile(scratch.url.path, what: "CSV file") }
        #expect(directory?.message.contains("is a directory") == true)
        let missing = #expect(throws: LCMError.self) { try InputFile(scratch.file("none").path, what: "CSV file") }
        #expect(missing?.code == .notFound && missing?.message.contains("does not exist") == true)

        // A symlink the admin names is followed once; the open file is what every reader gets.
        let real = scratch.file("real.csv")
        try Data("a,b\n".utf8).write(to: real)
        let link = scratch.file("link.csv").path
        #expect(symlink(real.path, link) == 0)
        let file = try InputFile(link, what: "CSV file")
        #expect(file.kind == .regularFile && file.size == 4)
        // Swapping the path afterwards changes nothing for lcm or for the tools it runs.
        try FileManager.default.removeItem(atPath: link)
        try Data("swapped".utf8).write(to: URL(fileURLWithPath: link))
        #expect(try file.contents(limit: 100) == Data("a,b\n".utf8))
        #expect(try String(contentsOfFile: file.toolPath, encoding: .utf8) == "a,b\n")
        // A file larger than its kind may be is refused before it is read.
        let big = #expect(throws: LCMError.self) { try file.contents(limit: 3) }
        #expect(big?.code == .dataError)
    }

    // MARK: Disk images

    @Test func imagesThatNameAnotherFileAreRefusedFromTheirHeader() throws {
        let scratch = ScratchDirectory(prefix: "lcm-hostile-images")
        let hostile = try HostileImages(in: scratch.url)
        for kind in HostileImages.Kind.allCases {
            let url = try #require(hostile.files[kind])
            let file = try InputFile(url.path, what: "disk image file")
            let error = #expect(throws: LCMError.self, "\(kind)") { try SourceImageFormat.identify(file) }
            #expect(error?.code == .dataError, "\(kind): \(String(describing: error))")
            #expect(error?.hint?.isEmpty == false, "\(kind)")
            // SourceImage.open is what import and inspect call: the same refusal.
            #expect(throws: LCMError.self, "\(kind)") { try SourceImage.open(url.path) }
        }
    }

    @Test func singleFileImagesAreIdentifiedAndReadThroughTheOpenFile() throws {
        let scratch = ScratchDirectory(prefix: "lcm-plain-images")
        var expected: [String: String] = [:]
        for (name, format, options) in [("a.qcow2", "qcow2", ["-o", "compat=0.10"]), ("b.qcow2", "qcow2", []),
                                        ("c.vmdk", "vmdk", []), ("d.vmdk", "vmdk", ["-o", "subformat=streamOptimized"]),
                                        ("e.vhdx", "vhdx", []), ("f.vhd", "vpc", []), ("g.vdi", "vdi", []),
                                        ("h.qed", "qed", []), ("i.raw", "raw", [])] {
            let path = scratch.file(name).path
            let run = try ProgramRun.run("/usr/bin/qemu-img", ["create", "-q", "-f", format] + options + [path, "4M"])
            try #require(run.status == 0, "\(name): \(run.stderr)")
            expected[path] = format
        }
        for (path, format) in expected {
            let source = try SourceImage.open(path)
            #expect(source.format == format, "\(path)")
            // VHD rounds sizes up to its disk geometry.
            #expect(format == "vpc" ? (4 << 20...5 << 20).contains(source.virtualSize) : source.virtualSize == 4 << 20,
                    "\(path): \(source.virtualSize)")
            #expect(source.imageOptions.contains("file.filename=/proc/\(getpid())/fd/\(source.file.descriptor)"))
        }
        // A text file that qemu would probe as a VMDK descriptor is refused by name.
        let text = scratch.file("notes.vmdk")
        try Data("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"other.raw\" 0\n".utf8).write(to: text)
        let refused = #expect(throws: LCMError.self) { try SourceImage.open(text.path) }
        #expect(refused?.message.contains("VMDK descriptor") == true)
    }

    // MARK: XML

    @Test func xmlWithADoctypeIsRefusedInEveryEncoding() throws {
        let scratch = ScratchDirectory(prefix: "lcm-xxe")
        let secret = "LCM-XXE-" + UUID().uuidString
        let target = scratch.file("secret.txt")
        try Data(secret.utf8).write(to: target)
        let hostile = """
            <?xml version="1.0"?>
            <!DOCTYPE unattend [ <!ENTITY leak SYSTEM "file://\(target.path)"> ]>
            <unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="specialize"><component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64"><RegisteredOwner>&leak;</RegisteredOwner></component></settings></unattend>
            """
        let laughs = "<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><a>&b;</a>"
        let utf16 = Data([0xFF, 0xFE]) + hostile.data(using: .utf16LittleEndian)!
        let utf16NoBOM = hostile.data(using: .utf16BigEndian)!
        for (label, data) in [("utf-8", Data(hostile.utf8)), ("utf-16le", utf16), ("utf-16be", utf16NoBOM), ("laughs", Data(laughs.utf8))] {
            let error = #expect(throws: SafeXML.Refusal.self, "\(label)") { try SafeXML.document(data, source: "the answer file") }
            #expect(error?.description.contains("<!DOCTYPE") == true, "\(label)")
        }
        // What deploy does with an image's answer file: refused, exit 65, the secret nowhere.
        let personalization = try DesktopPersonalization(computerName: "XXE1", registeredOwner: "o", timeZone: "UTC")
        let merge = #expect(throws: LCMError.self) {
            try SpecializeAnswerFile.merge(personalization, architecture: .amd64, into: Data(hostile.utf8), path: "/Windows/Panther/unattend.xml")
        }
        #expect(merge?.code == .dataError && merge?.description.contains(secret) == false, "\(String(describing: merge))")

        // A document without one parses, and libvirt's documents go through the same parser.
        let plain = try SafeXML.document("<domain type='qemu'><name>a&amp;b</name></domain>", source: "test")
        #expect(plain.rootElement()?.elements(forName: "name").first?.stringValue == "a&b")
        let libvirt = #expect(throws: LCMError.self) { try SafeXML.libvirtDocument(laughs, what: "the domain's XML") }
        #expect(libvirt?.code == .unavailable)
    }

    @Test func readinessBlocksAnAnswerFileThatDeclaresEntities() {
        var inspection = WindowsInspection()
        inspection.isWindows = true
        inspection.answerFiles = [AnswerFile(path: "/Windows/Panther/unattend.xml", secrets: [], declaresEntities: true)]
        let problems = ImageReadiness.problems(inspection).filter { $0.id == "answer-file-entities" }
        #expect(problems.count == 1 && problems.first?.severity == .blocker)
        inspection.answerFiles[0].declaresEntities = nil   // recorded before lcm looked
        #expect(!ImageReadiness.problems(inspection).contains { $0.id == "answer-file-entities" })
    }
}

extension HostileInputTests {
    // MARK: Names

    @Test func namesAreCheckedWholeWithNoTrailingNewline() throws {
        for rule in [NameRule.desktop, .image, .imageVersion, .profile] {
            #expect(rule.isValid("a1"), "\(rule.kind)")
            for bad in ["a1\n", "a1\r\n", "\na1", "a 1", "a/1", "ä1", "", "a1\u{0}", String(repeating: "a", count: rule.maxLength + 1)] {
                #expect(!rule.isValid(bad), "\(rule.kind) took \(bad.debugDescription)")
                let error = #expect(throws: LCMError.self) { try rule.validate(bad) }
                #expect(error?.code == .usage && error?.message.contains("\n") == false, "\(String(describing: error))")
            }
            #expect(rule.isValid(String(repeating: "a", count: rule.maxLength)))
        }
        #expect(throws: LCMError.self) { try DesktopNames.validate("desk\n") }
        #expect(throws: LCMError.self) { try ImageNames.validate(name: "win11\n") }
        #expect(throws: LCMError.self) { try ImageNames.validate(version: "3\n") }
        #expect(!RequirementProfile.isValidName("office\n") && RequirementProfile.isValidName("_lab.2"))
        #expect(!NameRule.image.isValid("-x") && !NameRule.desktop.isValid("a.b"))
    }

    /// Deploy's default name is made of the desktop rule's characters and passes it; and whatever
    /// the desktop rule takes, the domain definition's own name check takes too.
    @Test func desktopNamesPassTheOneRuleAndTheDomainCheck() throws {
        let made = DeployPlanner.defaultDesktopName(device: "DEV 7/ä", user: String(repeating: "jdoe.x", count: 20))
        try DesktopNames.validate(made)
        #expect(made.hasPrefix("DEV-7---jdoe-x") && made.utf8.count == NameRule.desktop.maxLength, "\(made)")
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ019-_")
        for _ in 0..<500 {
            let length = Int.random(in: 1...NameRule.desktop.maxLength, using: &generator)
            let name = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            guard NameRule.desktop.isValid(name) else { continue }
            #expect(throws: Never.self, "\(name)") {
                try DesktopDomain(name: name, domainType: .qemu, disks: [DesktopDomain.Disk(path: "/d/x.qcow2")]).definition()
            }
        }
    }
}
