import Foundation
import Testing

@testable import Archive

extension TarArchiveWriter.Compression: CustomTestStringConvertible {
    public var testDescription: String { "\(self)" }
}

@Suite struct TarArchiveWriterTests {
    /// A small home directory: nested dirs, an empty dir, a file over 1 MiB, symlinks, a
    /// non-ASCII name, distinct modes and a fixed mtime.
    private func makeSourceTree(in scratch: Scratch) throws -> URL {
        let root = scratch.path("home/user")
        try write(pseudoRandomBytes(count: 1_572_864 + 123, seed: 7), to: root.appendingPathComponent("Documents/report.docx"))
        try write(Data("#!/bin/sh\necho hi\n".utf8), to: root.appendingPathComponent("bin/hello.sh"))
        try write(Data("private".utf8), to: root.appendingPathComponent("Grüße.txt"))
        try write(Data(), to: root.appendingPathComponent("Documents/empty-file"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("empty"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("latest").path, withDestinationPath: "Documents/report.docx")
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("Documents/up").path, withDestinationPath: "../empty")
        #expect(chmod(root.appendingPathComponent("bin/hello.sh").path, 0o750) == 0)
        #expect(chmod(root.appendingPathComponent("Grüße.txt").path, 0o600) == 0)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 500_000_000), timespec(tv_sec: 1_600_000_000, tv_nsec: 500_000_000)]
        #expect(utimensat(AT_FDCWD, root.appendingPathComponent("Grüße.txt").path, &times, 0) == 0)
        return root
    }

    private func fileStatus(_ url: URL) -> stat {
        var info = stat()
        lstat(url.path, &info)
        return info
    }

    @Test(arguments: [TarArchiveWriter.Compression.none, .gzip, .zstd])
    func roundTripThroughExtractAllAndHostTar(compression: TarArchiveWriter.Compression) throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let source = try makeSourceTree(in: scratch)
        let archive = scratch.path("backup.tar")

        let writer = try TarArchiveWriter(destination: archive, compression: compression)
        let skipped = try writer.addTree(directory: source, under: "backup/user")
        try writer.addBytes(Data("{\"version\":1}".utf8), as: "backup/manifest.json")
        try writer.addDirectory("backup/extra/nested")
        try writer.finish()
        #expect(skipped.isEmpty)
        #expect(try scratch.listing() == ["backup.tar", "home"])
        #expect(fileStatus(archive).st_mode & 0o777 == 0o600)

        let magic = [UInt8](try Data(contentsOf: archive).prefix(4))
        switch compression {
        case .none: #expect(try Data(contentsOf: archive).count % 512 == 0)
        case .gzip: #expect(magic.prefix(2) == [0x1f, 0x8b])
        case .zstd: #expect(magic == [0x28, 0xb5, 0x2f, 0xfd])
        }

        // Our reader, through the safe extractor.
        let out = scratch.path("restored")
        let extracted = try ArchiveReader(contentsOf: archive).extractAll(to: out)
        #expect(extracted.count == 12)
        let sourceTree = try snapshot(source)
        #expect(try snapshot(out.appendingPathComponent("backup/user")) == sourceTree)
        #expect(try Data(contentsOf: out.appendingPathComponent("backup/manifest.json")) == Data("{\"version\":1}".utf8))
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("backup/extra/nested").path, isDirectory: &isDirectory) && isDirectory.boolValue)

        let restoredSecret = fileStatus(out.appendingPathComponent("backup/user/Grüße.txt"))
        #expect(restoredSecret.st_mode & 0o777 == 0o600)
        #expect(restoredSecret.st_mtim.tv_sec == 1_600_000_000)
        #expect(restoredSecret.st_mtim.tv_nsec == 500_000_000)
        #expect(fileStatus(out.appendingPathComponent("backup/user/bin/hello.sh")).st_mode & 0o777 == 0o750)

        // GNU tar lists and extracts the same tree.
        let listing = try runTool("/usr/bin/tar", ["-tf", archive.path])
        #expect(listing.status == 0, "\(listing.stderr)")
        let listed = Set(listing.stdout.split(separator: "\n").map { $0.hasSuffix("/") ? String($0.dropLast()) : String($0) })
        let expected = Set(sourceTree.keys.map { "backup/user/\($0)" } + [
            "backup/user", "backup/manifest.json", "backup/extra/nested",
        ])
        #expect(listed == expected)

        let hostOut = scratch.path("host-tar")
        try FileManager.default.createDirectory(at: hostOut, withIntermediateDirectories: true)
        let hostExtract = try runTool("/usr/bin/tar", ["-xf", archive.path, "-C", hostOut.path])
        #expect(hostExtract.status == 0, "\(hostExtract.stderr)")
        #expect(try snapshot(hostOut.appendingPathComponent("backup/user")) == sourceTree)
    }

    @Test func readerReportsEntryMetadata() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let archive = scratch.path("meta.tar.zst")
        let writer = try TarArchiveWriter(destination: archive, compression: .zstd)
        let mtime = Date(timeIntervalSince1970: 1_700_000_000)
        try writer.addDirectory("d", permissions: 0o700, modificationTime: mtime)
        try writer.addBytes(Data(repeating: 0x41, count: 3000), as: "d/a.txt", permissions: 0o640, modificationTime: mtime)
        try writer.addSymlink("d/link", target: "a.txt", modificationTime: mtime)
        try writer.finish()

        let reader = try ArchiveReader(contentsOf: archive)
        var entries: [ArchiveEntry] = []
        var chunks: [Int] = []
        while let entry = try reader.nextEntry() {
            entries.append(entry)
            if entry.kind == .regularFile { try reader.readData(chunkSize: 1024) { chunks.append($0.count) } }
        }
        #expect(entries == [
            ArchiveEntry(path: "d/", kind: .directory, size: 0, permissions: 0o700, modificationTime: mtime),
            ArchiveEntry(path: "d/a.txt", kind: .regularFile, size: 3000, permissions: 0o640, modificationTime: mtime),
            ArchiveEntry(path: "d/link", kind: .symbolicLink, size: 0, permissions: 0o777, modificationTime: mtime, symlinkTarget: "a.txt"),
        ])
        #expect(chunks == [1024, 1024, 952])
    }

    @Test func unfinishedOrDiscardedWritersLeaveNothing() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        do {
            let dropped = try TarArchiveWriter(destination: scratch.path("dropped.tar.gz"), compression: .gzip)
            try dropped.addBytes(Data("x".utf8), as: "x")
        }
        let discarded = try TarArchiveWriter(destination: scratch.path("discarded.tar"))
        try discarded.addBytes(Data("x".utf8), as: "x")
        discarded.discard()
        #expect(throws: ArchiveError.self) { try discarded.finish() }
        #expect(try scratch.listing().isEmpty)
    }

    @Test func writerStaysUsableAfterARejectedSource() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let archive = scratch.path("a.tar")
        let writer = try TarArchiveWriter(destination: archive)
        let missing = #expect(throws: ArchiveError.self) { try writer.addFile(at: scratch.path("missing"), as: "missing") }
        #expect(missing?.errno == ENOENT)
        #expect(throws: ArchiveError.self) { try writer.addBytes(Data(), as: "../escape") }
        try writer.addBytes(Data("ok".utf8), as: "ok.txt")
        try writer.finish()
        #expect(try readAll(archive).keys.sorted() == ["ok.txt"])
    }

    @Test func addTreeReportsWhatItSkips() throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let source = scratch.path("src")
        try write(Data("a".utf8), to: source.appendingPathComponent("a.txt"))
        #expect(mkfifo(source.appendingPathComponent("pipe").path, 0o600) == 0)
        let writer = try TarArchiveWriter(destination: scratch.path("t.tar"))
        let skipped = try writer.addTree(directory: source, under: "")
        try writer.finish()
        #expect(skipped == [source.appendingPathComponent("pipe").path])
        #expect(try readAll(scratch.path("t.tar")).keys.sorted() == ["a.txt"])
    }
}
