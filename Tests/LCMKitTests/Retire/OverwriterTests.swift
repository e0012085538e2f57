import Foundation
@testable import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// Overwrite passes and their verification on real files: a local file with direct I/O and a
/// volume of the real libvirtd through streams, each checked by readers independent of lcm
/// (`openssl enc -aes-256-ctr` regenerates the random pass, `cmp` compares).
@Suite struct OverwriterTests {
    /// A directory on a filesystem that takes O_DIRECT (not tmpfs).
    func scratch() throws -> URL {
        let url = URL(fileURLWithPath: "/var/tmp/lcm-overwrite-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func hex(_ bytes: [UInt8]) -> String { bytes.hexString }

    /// The random pass as OpenSSL computes it: AES-256-CTR over zeros, counter block nonce || 0.
    func opensslStream(_ pattern: OverwritePattern, size: UInt64, in directory: URL) throws -> URL {
        guard case .random(let seed, let nonce) = pattern else { throw LCMError(.failure, "not random") }
        let zeros = directory.appendingPathComponent("zeros")
        FileManager.default.createFile(atPath: zeros.path, contents: nil)
        #expect(truncate(zeros.path, off_t(size)) == 0)
        let out = directory.appendingPathComponent("expected")
        let run = try ProgramRun.run("/usr/bin/openssl", ["enc", "-aes-256-ctr", "-K", hex(seed), "-iv", hex(nonce + [UInt8](repeating: 0, count: 8)),
                                                          "-in", zeros.path, "-out", out.path])
        #expect(run.status == 0, "\(run.stderr)")
        return out
    }

    func randomFile(_ url: URL, size: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(bytes).write(to: url)
    }

    @Test func randomPatternIsAESCTRAddressableAtAnyOffset() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pattern = OverwritePattern.freshRandom()
        let size = 5 << 20
        var whole = [UInt8](repeating: 0, count: size)
        try whole.withUnsafeMutableBytes { try pattern.fill($0, at: 0) }
        // Same bytes as OpenSSL's AES-256-CTR: the stream is what the certificate says it is.
        let expected = try Data(contentsOf: try opensslStream(pattern, size: UInt64(size), in: directory))
        #expect(Data(whole) == expected)
        // Any aligned window regenerates alone (resume, sampled verification).
        var window = [UInt8](repeating: 0, count: 70_000)
        try window.withUnsafeMutableBytes { try pattern.fill($0, at: 4_194_000) }
        #expect(window[...] == whole[4_194_000..<(4_194_000 + 70_000)])
        // Another seed, another stream; no long runs of zeros.
        var other = [UInt8](repeating: 0, count: 4096)
        try other.withUnsafeMutableBytes { try OverwritePattern.freshRandom().fill($0, at: 0) }
        #expect(other[...] != whole[0..<4096])
        #expect(whole.filter { $0 == 0 }.count < size / 128)
        #expect(throws: LCMError.self) { try window.withUnsafeMutableBytes { try pattern.fill($0, at: 8) } }
    }

    /// A local file of unaligned size, overwritten with direct I/O: a pass killed after its first
    /// checkpoint resumes there; every byte then matches OpenSSL's stream; one flipped byte is
    /// found by full verification at its offset.
    @Test func localPassResumesAndVerificationFindsAFlippedByte() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("disk.img")
        let size = (20 << 20) + 3
        try randomFile(file, size: size)
        let target = try LocalWipeTarget(path: file.path, checkpointBytes: 8 << 20)
        #expect(target.size == UInt64(size) && target.route.contains("O_DIRECT"))
        let pattern = OverwritePattern.freshRandom()

        struct Killed: Error {}
        var reached: UInt64 = 0
        #expect(throws: Killed.self) {
            try Overwriter.overwrite(target, with: pattern) { offset in
                reached = offset
                throw Killed()
            }
        }
        #expect(reached == 8 << 20)
        var checkpoints: [UInt64] = []
        let pass = try Overwriter.overwrite(target, with: pattern, resumeAt: reached) { checkpoints.append($0) }
        #expect(pass.bytesWritten == UInt64(size) - reached)
        #expect(checkpoints == [16 << 20, UInt64(size)])

        let expected = try opensslStream(pattern, size: UInt64(size), in: directory)
        let compared = try ProgramRun.run("/usr/bin/cmp", [file.path, expected.path])
        #expect(compared.status == 0, "\(compared.stdout)\(compared.stderr)")
        let full = try Overwriter.verify(target, against: pattern)
        #expect(full.passed && full.bytesRead == UInt64(size))

        // One byte changed behind lcm's back, in the unaligned tail's chunk.
        let flipAt = UInt64(size - 2)
        let handle = try FileHandle(forUpdating: file)
        try handle.seek(toOffset: flipAt)
        let old = try handle.read(upToCount: 1)![0]
        try handle.seek(toOffset: flipAt)
        try handle.write(contentsOf: Data([old ^ 0xFF]))
        try handle.close()
        let after = try Overwriter.verify(target, against: pattern)
        #expect(!after.passed && after.mismatchedBytes == 1 && after.firstMismatch == flipAt, "\(after)")

        // A sample reads the first and last chunks and at least 10%.
        let sample = try Overwriter.verify(target, against: pattern, coverage: .sample)
        #expect(sample.coverage == .sample && sample.mismatchedBytes == 1 && sample.bytesRead < UInt64(size))
        let chunks = Overwriter.chunks(size: 1 << 30, coverage: .sample)
        #expect(chunks.first == 0 && chunks.last == 255 && chunks.count >= 26 && Set(chunks).count == chunks.count)
    }

    /// The same through the real libvirtd's streams: a raw volume in lcm's pool overwritten with
    /// zeros and then a random pass, each verified through download streams and by reading the
    /// pool's file directly.
    @Test func volumeIsOverwrittenThroughLibvirtStreams() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("source.img")
        let size = (9 << 20) + 512
        try randomFile(source, size: size)
        let connection = try Connection(uri: "qemu:///system")
        let pool = try DeviceStoragePool.ensure(on: connection).pool
        let name = "lcmtest-wipe-\(UUID().uuidString.prefix(6).lowercased()).img"
        let volume = try DeviceVolumes.importFile(source.path, as: name, into: pool)
        defer { try? volume.delete() }
        let target = try StreamWipeTarget(volume: volume)
        #expect(target.size == UInt64(size))

        _ = try Overwriter.overwrite(target, with: .constant(0))
        #expect(try Overwriter.verify(target, against: .constant(0)).passed)
        let pattern = OverwritePattern.freshRandom()
        let pass = try Overwriter.overwrite(target, with: pattern)
        #expect(pass.bytesWritten == UInt64(size))
        let verified = try Overwriter.verify(target, against: pattern)
        #expect(verified.passed && verified.bytesRead == UInt64(size))
        let expected = try opensslStream(pattern, size: UInt64(size), in: directory)
        let compared = try ProgramRun.run("/usr/bin/cmp", [try volume.path, expected.path])
        #expect(compared.status == 0, "\(compared.stdout)\(compared.stderr)")
    }

    /// A retirement's file is opened only as the file planned: a symbolic link put in its place
    /// (to a file outside), a second hard link, another file under its name, a block device, or
    /// a link on its path in a directory another user owns are refused, and the file they lead
    /// to is left byte for byte as it was; a link in a root-only directory is the admin's own
    /// layout and is followed. Each open checks again, as a resumed retirement does.
    @Test func plannedFilesAreNeverReachedThroughALinkOrAnotherName() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let planned = directory.appendingPathComponent("d1-nvram.fd")
        try randomFile(planned, size: 64 << 10)
        let outside = directory.appendingPathComponent("outside")
        try randomFile(outside, size: 64 << 10)
        let outsideBytes = try Data(contentsOf: outside)
        let identity = try #require(try LinkSafePath.inspect(planned.path)).identity
        func refusal(_ path: String, _ identity: FileIdentity) throws -> String? {
            do {
                let target = try LocalWipeTarget(path: path, opening: .planned(identity))
                _ = try Overwriter.overwrite(target, with: .constant(0))
                return nil
            } catch let error as LCMError {
                #expect(error.code == .checkFailed && LinkSafePath.isRefusal(error), "\(error)")
                return error.message
            }
        }

        // Replaced by a symbolic link to a file outside.
        let aside = directory.appendingPathComponent("aside")
        #expect(rename(planned.path, aside.path) == 0 && symlink(outside.path, planned.path) == 0)
        #expect(try refusal(planned.path, identity)?.contains("symbolic link") == true)
        #expect(try Data(contentsOf: outside) == outsideBytes, "written through the link")
        // The planned file back, with a second hard link.
        #expect(unlink(planned.path) == 0 && rename(aside.path, planned.path) == 0)
        let before = try Data(contentsOf: planned)
        let second = directory.appendingPathComponent("second-name")
        #expect(link(planned.path, second.path) == 0)
        #expect(try refusal(planned.path, identity)?.contains("2 hard links") == true)
        #expect(try Data(contentsOf: second) == before, "the other name's file was written")
        #expect(unlink(second.path) == 0)
        // Another file under the planned name, and a block device.
        let planB = try #require(try LinkSafePath.inspect(outside.path)).identity
        #expect(try refusal(planned.path, planB)?.contains("another file than the one planned") == true)
        #expect(try Data(contentsOf: planned) == before)
        let loop = directory.appendingPathComponent("loopdev")
        #expect(mknod(loop.path, S_IFBLK | 0o600, dev_t(7 << 8 | 250)) == 0)
        #expect(try refusal(loop.path, identity) != nil)

        // A link on the path in a directory another user owns is refused; in root's, followed.
        let userOwned = directory.appendingPathComponent("tss-owned")
        try FileManager.default.createDirectory(at: userOwned, withIntermediateDirectories: true)
        #expect(chown(userOwned.path, 65534, 65534) == 0)
        #expect(symlink(directory.path, userOwned.appendingPathComponent("tpm2").path) == 0)
        #expect(try refusal(userOwned.path + "/tpm2/d1-nvram.fd", identity)?.contains("another user can change") == true)
        #expect(try Data(contentsOf: planned) == before)
        let rootLink = directory.path + "/root-link"
        #expect(symlink(directory.path, rootLink) == 0)
        #expect(try refusal(rootLink + "/d1-nvram.fd", identity) == nil, "a link only root could make is followed")
        #expect(try Data(contentsOf: planned) == Data(count: 64 << 10), "the planned file itself was overwritten")
        #expect(try Data(contentsOf: outside) == outsideBytes)

        // Removal: only the planned file goes; a name given to another file is refused.
        #expect(throws: LCMError.self) { try LinkSafePath.unlinkPlannedFile(outside.path, planned: identity) }
        #expect(FileManager.default.fileExists(atPath: outside.path))
        try LinkSafePath.unlinkPlannedFile(planned.path, planned: identity)
        #expect(!FileManager.default.fileExists(atPath: planned.path))
    }
}
