import Foundation
import Testing

@testable import Archive

@Suite struct ArchiveReaderTests {
    // MARK: - Zip written by another implementation

    @Test func readsZipCreatedByPythonZipfileCLI() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let big = pseudoRandomBytes(count: 200_000, seed: 3)
        try write(big, to: scratch.path("in/data/big.bin"))
        try write(Data("hello\n".utf8), to: scratch.path("in/readme.txt"))
        let zip = scratch.path("stored.zip")
        let result = try runTool("/usr/bin/python3", [
            "-m", "zipfile", "-c", zip.path, scratch.path("in/data").path, scratch.path("in/readme.txt").path,
        ])
        #expect(result.status == 0, "\(result.stderr)")

        let entries = try readAll(zip)
        #expect(entries["data/big.bin"] == ReadBack(kind: .regularFile, data: big))
        #expect(entries["readme.txt"] == ReadBack(kind: .regularFile, data: Data("hello\n".utf8)))
        #expect(entries["data"]?.kind == .directory)
    }

    /// A deflated zip from Python's zipfile module; `corruptAt` flips one byte of the payload.
    private func deflatedZip(at url: URL, payload: Data) throws {
        let payloadFile = url.deletingLastPathComponent().appendingPathComponent("payload.bin")
        try payload.write(to: payloadFile)
        let script = """
            import sys, zipfile
            with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
                z.write(sys.argv[2], "dir/payload.bin")
                z.writestr("dir/note.txt", "note")
            """
        let result = try runTool("/usr/bin/python3", ["-c", script, url.path, payloadFile.path])
        #expect(result.status == 0, "\(result.stderr)")
        try FileManager.default.removeItem(at: payloadFile)
    }

    @Test func readsAndExtractsDeflatedZip() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let payload = Data(repeating: 0x5A, count: 1_000_000) + pseudoRandomBytes(count: 10_000, seed: 9)
        let zip = scratch.path("deflated.zip")
        try deflatedZip(at: zip, payload: payload)
        let out = scratch.path("out")
        try ArchiveReader(contentsOf: zip).extractAll(to: out)
        #expect(try snapshot(out) == [
            "dir": ReadBack(kind: .directory),
            "dir/payload.bin": ReadBack(kind: .regularFile, data: payload),
            "dir/note.txt": ReadBack(kind: .regularFile, data: Data("note".utf8)),
        ])
    }

    // MARK: - Damaged input

    @Test func corruptZipDataThrows() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let zip = scratch.path("bad.zip")
        try deflatedZip(at: zip, payload: pseudoRandomBytes(count: 50_000, seed: 1))
        var bytes = try Data(contentsOf: zip)
        bytes[bytes.startIndex + 2_000] ^= 0xFF  // inside the first entry's compressed data
        try bytes.write(to: zip)
        let reader = try ArchiveReader(contentsOf: zip)
        _ = try reader.nextEntry()
        let error = #expect(throws: ArchiveError.self) { _ = try reader.readData() }
        #expect(error?.code == .library)
        #expect(error?.path == "dir/payload.bin")
    }

    @Test(arguments: [TarArchiveWriter.Compression.none, .gzip, .zstd])
    func truncatedTarThrows(compression: TarArchiveWriter.Compression) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let archive = scratch.path("t.tar")
        let writer = try TarArchiveWriter(destination: archive, compression: compression)
        try writer.addBytes(pseudoRandomBytes(count: 300_000, seed: 5), as: "a.bin")
        try writer.addBytes(pseudoRandomBytes(count: 300_000, seed: 6), as: "b.bin")
        try writer.finish()
        let whole = try Data(contentsOf: archive)
        try whole.prefix(whole.count / 3).write(to: archive)

        let out = scratch.path("out")
        let error = #expect(throws: ArchiveError.self) {
            try ArchiveReader(contentsOf: archive).extractAll(to: out)
        }
        #expect(error?.code == .library)
        #expect(error?.description.isEmpty == false)
        // The entry cut short is removed rather than left looking restored.
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    @Test func garbageIsNotAnArchive() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let garbage = scratch.path("garbage.bin")
        try pseudoRandomBytes(count: 4096, seed: 11).write(to: garbage)
        let error = #expect(throws: ArchiveError.self) {
            let reader = try ArchiveReader(contentsOf: garbage)
            _ = try reader.nextEntry()
        }
        #expect(error?.code == .library)

        let missing = #expect(throws: ArchiveError.self) { _ = try ArchiveReader(contentsOf: scratch.path("nope.tar")) }
        #expect(missing?.errno == ENOENT)

        // libarchive's "empty" format: a zero-byte file is a valid archive with no entries.
        let empty = scratch.path("empty.tar")
        try Data().write(to: empty)
        #expect(try ArchiveReader(contentsOf: empty).nextEntry() == nil)
    }

    @Test func readDataNeedsAnEntryAndAnOpenReader() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let archive = scratch.path("a.tar")
        let writer = try TarArchiveWriter(destination: archive)
        try writer.addBytes(Data("x".utf8), as: "x")
        try writer.finish()
        let reader = try ArchiveReader(contentsOf: archive)
        #expect(throws: ArchiveError.self) { _ = try reader.readData() }
        reader.close()
        #expect(throws: ArchiveError.self) { _ = try reader.nextEntry() }
    }

    // MARK: - Hostile archives

    /// Extracts `tar` into scratch/dest and returns the error; scratch/outside must stay empty.
    private func refuse(_ tar: RawTar, in scratch: Scratch, prepare: (URL) throws -> Void = { _ in }) throws -> ArchiveError? {
        let archive = scratch.path("hostile.tar")
        try tar.finished().write(to: archive)
        let destination = scratch.path("dest")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.path("outside"), withIntermediateDirectories: true)
        try prepare(destination)
        let error = #expect(throws: ArchiveError.self) {
            try ArchiveReader(contentsOf: archive).extractAll(to: destination)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("outside").path).isEmpty)
        return error
    }

    @Test func refusesDotDotAndStopsThere() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var tar = RawTar()
        tar.add(name: "before.txt", data: Data("ok".utf8))
        tar.add(name: "sub/../../outside/evil", data: Data("evil".utf8))
        tar.add(name: "after.txt", data: Data("never".utf8))
        let error = try refuse(tar, in: scratch)
        #expect(error?.code == .unsafeEntry)
        #expect(error?.path == "sub/../../outside/evil")
        // Entries before the refused one stay; nothing after it is written.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("dest").path) == ["before.txt"])
    }

    @Test func refusesAbsolutePath() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var tar = RawTar()
        let target = scratch.path("outside/abs-evil").path
        tar.add(name: target, data: Data("evil".utf8))
        let error = try refuse(tar, in: scratch)
        #expect(error?.code == .unsafeEntry)
        #expect(error?.path == target)
    }

    @Test(arguments: ["../outside", "../../outside", "/tmp", "a/../../outside", "sub/../.."])
    func refusesEscapingSymlink(target: String) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var tar = RawTar()
        tar.add(name: "link", type: "2", linkName: target)
        tar.add(name: "link/evil", data: Data("evil".utf8))
        let error = try refuse(tar, in: scratch)
        #expect(error?.code == .unsafeEntry)
        #expect(error?.path == "link")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("dest").path).isEmpty)
    }

    @Test func refusesWritingThroughAnInternalSymlink() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var tar = RawTar()
        tar.add(name: "dir/", type: "5", mode: 0o755)
        tar.add(name: "alias", type: "2", linkName: "dir")
        tar.add(name: "alias/file", data: Data("x".utf8))
        let error = try refuse(tar, in: scratch)
        #expect(error?.code == .unsafeEntry)
        #expect(error?.path == "alias/file")
    }

    @Test func neverFollowsAPreexistingSymlinkInTheDestination() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var tar = RawTar()
        tar.add(name: "planted/evil", data: Data("evil".utf8))
        let error = try refuse(tar, in: scratch) { destination in
            try FileManager.default.createSymbolicLink(
                atPath: destination.appendingPathComponent("planted").path, withDestinationPath: scratch.path("outside").path)
        }
        #expect(error?.code == .unsafeEntry)

        // A file entry named like the planted link replaces the link instead of writing through it.
        var replace = RawTar()
        replace.add(name: "planted", data: Data("plain".utf8))
        try replace.finished().write(to: scratch.path("replace.tar"))
        try ArchiveReader(contentsOf: scratch.path("replace.tar")).extractAll(to: scratch.path("dest"))
        #expect(try Data(contentsOf: scratch.path("dest/planted")) == Data("plain".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("outside").path).isEmpty)
    }

    @Test func refusesHardlinkOutsideAndDevices() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var hardlink = RawTar()
        hardlink.add(name: "hl", type: "1", linkName: "../outside/x")
        #expect(try refuse(hardlink, in: scratch)?.code == .unsafeEntry)

        var absoluteHardlink = RawTar()
        absoluteHardlink.add(name: "hl", type: "1", linkName: "/etc/passwd")
        #expect(try refuse(absoluteHardlink, in: scratch)?.code == .unsafeEntry)

        var device = RawTar()
        device.add(name: "null", type: "3")
        #expect(try refuse(device, in: scratch)?.code == .unsupportedEntry)
    }

    @Test func extractsSafeLinksAndAppliesDirectoryModesLast() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        var tar = RawTar()
        tar.add(name: "./", type: "5", mode: 0o755)
        tar.add(name: "ro/", type: "5", mode: 0o555)
        tar.add(name: "ro/file.txt", data: Data("data".utf8))
        tar.add(name: "ro/hard.txt", type: "1", linkName: "ro/file.txt")
        tar.add(name: "links/up", type: "2", linkName: "../ro/file.txt")
        tar.add(name: "links/here", type: "2", linkName: "./sibling")
        let archive = scratch.path("ok.tar")
        try tar.finished().write(to: archive)
        let out = scratch.path("out")
        let extracted = try ArchiveReader(contentsOf: archive).extractAll(to: out)
        #expect(extracted.map(\.path) == ["./", "ro/", "ro/file.txt", "ro/hard.txt", "links/up", "links/here"])

        var info = stat()
        #expect(stat(out.appendingPathComponent("ro").path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o555)
        #expect(stat(out.appendingPathComponent("ro/hard.txt").path, &info) == 0)
        #expect(info.st_nlink == 2)
        #expect(try Data(contentsOf: out.appendingPathComponent("links/up")) == Data("data".utf8))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out.appendingPathComponent("links/here").path) == "./sibling")
        #expect(chmod(out.appendingPathComponent("ro").path, 0o755) == 0)  // so cleanup can delete it
    }
}
