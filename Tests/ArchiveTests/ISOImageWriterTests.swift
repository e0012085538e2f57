import Foundation
import Testing

@testable import Archive

@Suite struct ISOImageWriterTests {
    static let longName = "LCM-FirstLogon-Configure-WinRM-And-Activate-Windows.ps1"
    static let answerFile = Data("""
        <?xml version="1.0" encoding="utf-8"?>
        <unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="windowsPE"/></unattend>
        """.utf8)

    /// Writes the image used by the read-back tests and returns what it should contain.
    private func writeSampleImage(in scratch: Scratch, joliet: Bool = true, rockRidge: Bool = true) throws -> (URL, [String: ReadBack]) {
        let big = pseudoRandomBytes(count: 5 * 1024 * 1024, seed: 42)
        let bigSource = scratch.path("source/big.bin")
        try write(big, to: bigSource)
        let script = Data("Write-Host 'configured'\r\n".utf8)
        let scriptSource = scratch.path("source/script.ps1")
        try write(script, to: scriptSource)

        let iso = scratch.path("answers.iso")
        let writer = try ISOImageWriter(volumeLabel: "LCM_ANSWERS", joliet: joliet, rockRidge: rockRidge)
        try writer.write([
            .bytes(Self.answerFile, at: "autounattend.xml"),
            .directory("sources/$OEM$/$1/lcm"),
            .file(bigSource, at: "payload/big.bin"),
            .file(scriptSource, at: "Scripts/\(Self.longName)"),
            .directory("empty"),
            .bytes(Data("grüße".utf8), at: "Scripts/Grüße-Ünïcode.txt"),
        ], to: iso)

        let expected: [String: ReadBack] = [
            "autounattend.xml": ReadBack(kind: .regularFile, data: Self.answerFile),
            "sources": ReadBack(kind: .directory),
            "sources/$OEM$": ReadBack(kind: .directory),
            "sources/$OEM$/$1": ReadBack(kind: .directory),
            "sources/$OEM$/$1/lcm": ReadBack(kind: .directory),
            "payload": ReadBack(kind: .directory),
            "payload/big.bin": ReadBack(kind: .regularFile, data: big),
            "Scripts": ReadBack(kind: .directory),
            "Scripts/\(Self.longName)": ReadBack(kind: .regularFile, data: script),
            "empty": ReadBack(kind: .directory),
            "Scripts/Grüße-Ünïcode.txt": ReadBack(kind: .regularFile, data: Data("grüße".utf8)),
        ]
        return (iso, expected)
    }

    @Test func imageReadsBackThroughArchiveReader() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (iso, expected) = try writeSampleImage(in: scratch)
        let actual = try readAll(iso)
        #expect(actual == expected)
        // Only the finished image is left beside it: no temporaries.
        #expect(try scratch.listing() == ["answers.iso", "source"])
    }

    @Test func jolietOnlyImageKeepsCaseAndLength() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (iso, expected) = try writeSampleImage(in: scratch, joliet: true, rockRidge: false)
        #expect(try readAll(iso) == expected)
    }

    @Test func xorrisoSeesRockRidgeNamesAndBytes() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (iso, expected) = try writeSampleImage(in: scratch)

        let find = try runTool("/usr/bin/xorriso", ["-indev", iso.path, "-find", "/", "-type", "f"])
        #expect(find.status == 0, "\(find.stderr)")
        let listed = Set(find.stdout.split(separator: "\n").map { line in
            String(line).trimmingCharacters(in: CharacterSet(charactersIn: "'")).trimmingPrefix("/")
        }).map(String.init)
        #expect(Set(listed) == Set(expected.filter { $0.value.kind == .regularFile }.keys))

        let out = scratch.path("extracted")
        let extract = try runTool("/usr/bin/xorriso", ["-osirrox", "on", "-indev", iso.path, "-extract", "/", out.path])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try snapshot(out) == expected)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/isoinfo")))
    func isoinfoSeesJolietNames() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let (iso, expected) = try writeSampleImage(in: scratch)
        // genisoimage's isoinfo knows no UTF-8 output; Latin-1 covers the sample names.
        let joliet = try runTool("/usr/bin/isoinfo", ["-J", "-j", "iso8859-1", "-f", "-i", iso.path])
        #expect(joliet.status == 0, "\(joliet.stderr)")
        let text = String(data: joliet.output, encoding: .isoLatin1) ?? ""
        let names = Set(text.split(separator: "\n").map { String($0.dropFirst()) })
        #expect(names == Set(expected.keys))

        let volume = try runTool("/usr/bin/isoinfo", ["-d", "-i", iso.path])
        #expect(volume.stdout.contains("Volume id: LCM_ANSWERS"))
    }

    @Test func plainISO9660ImageStillReadsBack() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let iso = scratch.path("plain.iso")
        try ISOImageWriter(volumeLabel: "PLAIN", joliet: false, rockRidge: false)
            .write([.bytes(Data("x".utf8), at: "Autounattend.xml")], to: iso)
        // Without Joliet or Rock Ridge only the uppercase 8.3-style ISO 9660 name remains.
        let entries = try readAll(iso)
        #expect(entries.count == 1)
        #expect(entries.first?.key.uppercased().hasPrefix("AUTOUNAT") == true)
        #expect(entries.first?.value.data == Data("x".utf8))
    }

    @Test func jolietNameLongerThan64IsRefusedNotTruncated() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let name = String(repeating: "Abcdefghij", count: 7) + ".xml"
        let error = #expect(throws: ArchiveError.self) {
            try ISOImageWriter(volumeLabel: "LCM").write([.bytes(Data(), at: "dir/\(name)")], to: scratch.path("x.iso"))
        }
        #expect(error?.code == .invalidArgument)
        // Rock Ridge alone has no such limit.
        try ISOImageWriter(volumeLabel: "LCM", joliet: false).write([.bytes(Data(), at: "dir/\(name)")], to: scratch.path("x.iso"))
        #expect(try readAll(scratch.path("x.iso")).keys.contains("dir/\(name)"))
    }

    @Test func volumeLabelsAreValidatedOrNormalized() throws {
        #expect(ISOImageWriter.isValidVolumeLabel("LCM_ANSWERS_01"))
        #expect(!ISOImageWriter.isValidVolumeLabel("lcm"))
        #expect(!ISOImageWriter.isValidVolumeLabel("LCM ANSWERS"))
        #expect(!ISOImageWriter.isValidVolumeLabel(String(repeating: "A", count: 33)))
        #expect(!ISOImageWriter.isValidVolumeLabel(""))
        #expect(ISOImageWriter.normalizedVolumeLabel("lcm answers-01") == "LCM_ANSWERS_01")
        #expect(ISOImageWriter.normalizedVolumeLabel("Ünïcode") == "_N_CODE")
        #expect(ISOImageWriter.normalizedVolumeLabel(String(repeating: "x", count: 40)) == String(repeating: "X", count: 32))
        #expect(ISOImageWriter.normalizedVolumeLabel("") == "CDROM")
        let error = #expect(throws: ArchiveError.self) { try ISOImageWriter(volumeLabel: "lcm answers") }
        #expect(error?.code == .invalidArgument)
    }

    @Test func missingDestinationDirectoryLeavesNothing() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let iso = scratch.path("no-such-dir/answers.iso")
        let error = #expect(throws: ArchiveError.self) {
            try ISOImageWriter(volumeLabel: "LCM").write([.bytes(Data("x".utf8), at: "a.txt")], to: iso)
        }
        #expect(error?.code == .system)
        #expect(error?.errno == ENOENT)
        #expect(!FileManager.default.fileExists(atPath: iso.path))
        #expect(try scratch.listing().isEmpty)
    }

    @Test func missingSourceFileLeavesNothing() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let iso = scratch.path("answers.iso")
        let error = #expect(throws: ArchiveError.self) {
            try ISOImageWriter(volumeLabel: "LCM").write([
                .bytes(Data("x".utf8), at: "a.txt"),
                .file(scratch.path("missing.bin"), at: "b.bin"),
            ], to: iso)
        }
        #expect(error?.path == scratch.path("missing.bin").path)
        #expect(try scratch.listing().isEmpty)
    }

    @Test func failedWriteKeepsThePreviousImage() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let iso = scratch.path("answers.iso")
        let writer = try ISOImageWriter(volumeLabel: "LCM")
        try writer.write([.bytes(Data("first".utf8), at: "a.txt")], to: iso)
        let before = try Data(contentsOf: iso)
        #expect(throws: ArchiveError.self) {
            try writer.write([.file(scratch.path("missing.bin"), at: "b.bin")], to: iso)
        }
        #expect(try Data(contentsOf: iso) == before)
        #expect(try scratch.listing() == ["answers.iso"])
    }

    @Test func invalidEntryPathsAreRejected() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let writer = try ISOImageWriter(volumeLabel: "LCM")
        for path in ["../evil.txt", "/abs.txt", "a/../../b", "", "dup.txt"] {
            var entries: [ISOImageWriter.Entry] = [.bytes(Data(), at: path)]
            if path == "dup.txt" { entries.append(.bytes(Data(), at: "./dup.txt")) }
            let error = #expect(throws: ArchiveError.self) { try writer.write(entries, to: scratch.path("x.iso")) }
            #expect(error?.code == .invalidArgument)
        }
        #expect(try scratch.listing().isEmpty)
    }
}
