import Foundation

/// Disk images crafted to make qemu read a host file lcm was not given: what an image "from a
/// vendor" can carry. Each names `secretFile` (or a file beside it) in a way qemu follows when it
/// probes or converts without care. Built with qemu-img where it makes them, by hand otherwise.
public struct HostileImages {
    /// The host file the images reach for; its content must never appear in anything lcm makes.
    public let secretFile: URL
    public let secret: String
    /// Crafted image files by what they do.
    public let files: [Kind: URL]

    public enum Kind: String, CaseIterable, Sendable {
        /// A VMDK descriptor whose one extent is the secret file (FLAT, read as raw disk data).
        case vmdkDescriptorExtent
        /// A VMDK4 sparse header with no capacity, whose embedded descriptor names the secret file.
        case vmdkEmbeddedDescriptor
        /// A VMDK delta disk naming the secret file as its parent.
        case vmdkDelta
        /// A qcow2 with an external data file: the secret file.
        case qcow2DataFile
        /// A qcow2 overlay on the secret file (raw).
        case qcow2Backing
        /// A QED overlay on the secret file.
        case qedBacking
        /// A differencing VHD (its parent locators would name a file).
        case vhdDifferencing
    }

    public init(in directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        secret = "LCM-SECRET-" + UUID().uuidString + "\n"
        secretFile = directory.appendingPathComponent("host-secret.raw")
        var files: [Kind: URL] = [:]
        func path(_ kind: Kind, _ ext: String) -> URL { directory.appendingPathComponent("\(kind.rawValue).\(ext)") }

        let descriptor = path(.vmdkDescriptorExtent, "vmdk")
        try Self.vmdkDescriptor(createType: "monolithicFlat", extent: "RW 2048 FLAT \"\(secretFile.path)\" 0")
            .write(to: descriptor, atomically: true, encoding: .utf8)
        files[.vmdkDescriptorExtent] = descriptor

        let embedded = path(.vmdkEmbeddedDescriptor, "vmdk")
        try Self.headerOnlyVMDK(descriptor: Self.vmdkDescriptor(createType: "monolithicFlat",
                                                                extent: "RW 2048 FLAT \"\(secretFile.path)\" 0"))
            .write(to: embedded)
        files[.vmdkEmbeddedDescriptor] = embedded

        let base = path(.vmdkDelta, "base.vmdk")
        try Self.qemuImg(["create", "-q", "-f", "vmdk", base.path, "1M"])
        let delta = path(.vmdkDelta, "vmdk")
        try Self.qemuImg(["create", "-q", "-f", "vmdk", "-b", base.path, "-F", "vmdk", delta.path])
        files[.vmdkDelta] = delta

        let dataFile = path(.qcow2DataFile, "qcow2")
        // data_file_raw: the secret file is read as the disk's contents as they are.
        try Self.qemuImg(["create", "-q", "-f", "qcow2", "-o", "data_file=\(secretFile.path),data_file_raw=on",
                          dataFile.path, "1M"])
        files[.qcow2DataFile] = dataFile

        let overlay = path(.qcow2Backing, "qcow2")
        try Self.qemuImg(["create", "-q", "-f", "qcow2", "-u", "-b", secretFile.path, "-F", "raw", overlay.path, "1M"])
        files[.qcow2Backing] = overlay

        let qed = path(.qedBacking, "qed")
        try Self.qemuImg(["create", "-q", "-f", "qed", "-u", "-b", secretFile.path, "-F", "raw", qed.path, "1M"])
        files[.qedBacking] = qed

        let vhd = path(.vhdDifferencing, "vhd")
        try Self.qemuImg(["create", "-q", "-f", "vpc", vhd.path, "1M"])
        try Self.markDifferencing(vhd)
        files[.vhdDifferencing] = vhd
        // 1 MiB of the secret, repeated, so any read of its first sectors shows it. Written last:
        // `qemu-img create` with a data file zeroes that file.
        let block = String(repeating: secret, count: (1 << 20) / secret.utf8.count + 1).prefix(1 << 20)
        try Data(block.utf8).write(to: secretFile)
        self.files = files
    }

    static func vmdkDescriptor(createType: String, extent: String) -> String {
        ["# Disk DescriptorFile", "version=1", "CID=12345678", "parentCID=ffffffff", "createType=\"\(createType)\"", "",
         "# Extent description", extent, "", "ddb.virtualHWVersion = \"4\"", ""].joined(separator: "\n")
    }

    /// A VMDK4 sparse header with capacity 0 and `descriptor` embedded at sector 1.
    static func headerOnlyVMDK(descriptor: String) -> Data {
        var bytes = [UInt8](repeating: 0, count: 512 * 3)
        func le32(_ value: UInt32, at offset: Int) { for i in 0..<4 { bytes[offset + i] = UInt8(value >> (8 * UInt32(i)) & 0xFF) } }
        func le64(_ value: UInt64, at offset: Int) { for i in 0..<8 { bytes[offset + i] = UInt8(value >> (8 * UInt64(i)) & 0xFF) } }
        bytes.replaceSubrange(0..<4, with: Array("KDMV".utf8))
        le32(1, at: 4)        // version
        le32(3, at: 8)        // flags
        le64(0, at: 12)       // capacity: none, so qemu opens the embedded descriptor
        le64(128, at: 20)     // granularity
        le64(1, at: 28)       // descriptor at sector 1
        le64(2, at: 36)       // two sectors long
        let text = Array(descriptor.utf8.prefix(1024))
        bytes.replaceSubrange(512..<512 + text.count, with: text)
        return Data(bytes)
    }

    /// Sets the disk type in a VHD's footer (and its copy at the start) to differencing (4),
    /// with the checksum fixed so the footer stays valid.
    static func markDifferencing(_ url: URL) throws {
        var data = [UInt8](try Data(contentsOf: url))
        for start in [0, data.count - 512] where Array(data[start..<start + 8]) == Array("conectix".utf8) {
            data[start + 60] = 0; data[start + 61] = 0; data[start + 62] = 0; data[start + 63] = 4
            for i in 64..<68 { data[start + i] = 0 }
            let sum = ~data[start..<start + 512].reduce(UInt32(0)) { $0 &+ UInt32($1) }
            for i in 0..<4 { data[start + 64 + i] = UInt8(sum >> (8 * UInt32(3 - i)) & 0xFF) }
        }
        try Data(data).write(to: url)
    }

    static func qemuImg(_ arguments: [String]) throws {
        let run = try ProgramRun.run("/usr/bin/qemu-img", arguments)
        guard run.status == 0 else {
            throw NSError(domain: "HostileImages", code: Int(run.status),
                          userInfo: [NSLocalizedDescriptionKey: "qemu-img \(arguments.joined(separator: " ")): \(run.stderr)"])
        }
    }
}
