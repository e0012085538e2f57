import Foundation
@testable import LCMKit
import LCMTestSupport
import Testing

/// The LUKS header of an encrypted qcow2 made by qemu-img is found through the qcow2 header
/// extension; overwriting that range alone makes the passphrase useless (crypto-erase).
@Suite struct QcowLUKSHeaderTests {
    @Test func keyslotsAreFoundAndTheirErasureLocksTheKeyOut() throws {
        let directory = URL(fileURLWithPath: "/var/tmp/lcm-luks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("secret")
        try "correct horse battery staple".write(to: secret, atomically: true, encoding: .utf8)
        let image = directory.appendingPathComponent("enc.qcow2").path
        let create = try ProgramRun.run("/usr/bin/qemu-img", [
            "create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,file=\(secret.path)",
            "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,encrypt.hash-alg=sha512", image, "16M"])
        try #require(create.status == 0, "\(create.stderr)")
        let plain = directory.appendingPathComponent("plain.qcow2").path
        try #require(try ProgramRun.run("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", plain, "16M"]).status == 0)

        func head(_ path: String) throws -> [UInt8] {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            return [UInt8](try handle.read(upToCount: QcowLUKSHeader.bytesToRead) ?? Data())
        }
        #expect(try QcowLUKSHeader.locate(in: try head(plain)) == nil)
        #expect(throws: LCMError.self) { try QcowLUKSHeader.locate(in: Array("not a qcow2 file at all".utf8)) }
        let header = try #require(try QcowLUKSHeader.locate(in: try head(image)))
        #expect(header.offset > 0 && header.length >= 1 << 20, "\(header)")
        // The LUKS magic sits where the extension says.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: image))
        try handle.seek(toOffset: header.offset)
        #expect(try handle.read(upToCount: 6) == Data([0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE]))
        try handle.close()

        // Reading the contents needs the master key out of a keyslot.
        func opens() throws -> ProgramRun {
            try ProgramRun.run("/usr/bin/qemu-img", ["convert", "-O", "raw", "--object", "secret,id=sec0,file=\(secret.path)",
                                                     "--image-opts", "driver=qcow2,file.filename=\(image),encrypt.key-secret=sec0",
                                                     directory.appendingPathComponent("out.raw").path])
        }
        #expect(try opens().status == 0)
        let target = try LocalWipeTarget(path: image)
        let pattern = OverwritePattern.freshRandom()
        _ = try Overwriter.overwrite(target, with: pattern, range: header.offset..<(header.offset + header.length))
        #expect(try Overwriter.verify(target, against: pattern, range: header.offset..<(header.offset + header.length)).passed)
        let refused = try opens()
        #expect(refused.status != 0, "the old passphrase still opens the volume: \(refused.stdout)")
        #expect(refused.stderr.contains("LUKS") || refused.stderr.contains("header") || refused.stderr.contains("magic"), "\(refused.stderr)")
    }
}
