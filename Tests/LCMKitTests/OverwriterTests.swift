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
}
