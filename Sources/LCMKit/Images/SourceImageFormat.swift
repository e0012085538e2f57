import Foundation

/// The format of a disk image lcm did not make, told from its own header by lcm, before any
/// qemu tool opens it.
///
/// Why lcm reads headers itself: qemu follows what an image names. A qcow2 can name a backing
/// file or an external data file; a VMDK descriptor names its extents, which may be any file or
/// block device on the host (/etc/shadow, /dev/sda); a header-only VMDK4 opens its embedded
/// descriptor the same way. Converting such an image would copy another host file into the golden
/// image and from there into every desktop. So every format whose header can name another file
/// is parsed here, and refused when it does; the tools then get the format explicitly (no probing)
/// and the file through `InputFile.toolPath`.
public enum SourceImageFormat {
    /// Formats lcm accepts from outside, by qemu's driver name.
    public static let accepted = ["raw", "qcow2", "vmdk", "vhdx", "vpc", "vdi", "qed"]

    /// How much of the header lcm reads at most: every reference qemu would follow lives in
    /// the first cluster (qcow2: at most 2 MiB) or in a descriptor lcm bounds below.
    static let headerLimit = 2 << 20
    static let descriptorLimit = 1 << 20

    /// The qemu format name of `file`, or an error naming why the image is refused.
    public static func identify(_ file: InputFile) throws -> String {
        let head = try file.read(at: 0, count: 512)
        func starts(with magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        if starts(with: [0x51, 0x46, 0x49, 0xFB]) { try checkQcow2(file); return "qcow2" }
        if starts(with: Array("KDMV".utf8)) { try checkVMDK4(file); return "vmdk" }
        if starts(with: Array("COWD".utf8)) {
            throw refusal(file, "is a VMDK3 (ESX 2) image, which lcm does not import",
                          hint: "convert it to qcow2 or raw with VMware's tools first")
        }
        if isVMDKDescriptor(head) {
            throw refusal(file, "is a VMDK descriptor: its data lives in other files (extents) that it names, which lcm never follows",
                          hint: "import a single-file image: convert it first (`qemu-img convert -O qcow2 DESCRIPTOR.vmdk golden.qcow2`) after checking the files its extent lines name")
        }
        if starts(with: Array("LUKS".utf8) + [0xBA, 0xBE]) {
            throw refusal(file, "is encrypted (LUKS)", hint: "import an unencrypted golden image; desktops get encrypted overlays")
        }
        if starts(with: Array("vhdxfile".utf8)) { return "vhdx" }   // qemu refuses differencing VHDX itself
        if starts(with: Array("conectix".utf8)) { try checkVPC(head, file); return "vpc" }
        if starts(with: [0x7F, 0x10, 0xDA, 0xBE], at: 0x40) { return "vdi" }   // qemu opens only normal and fixed VDI
        if starts(with: Array("QED".utf8) + [0]) { try checkQED(head, file); return "qed" }
        // Anything else is read as raw bytes, which can name nothing.
        return "raw"
    }

    // MARK: - qcow2

    static func checkQcow2(_ file: InputFile) throws {
        let header = try file.read(at: 0, count: 4096)
        guard header.count >= 72 else { throw refusal(file, "has a truncated qcow2 header", hint: copyAgain) }
        let version = be32(header, 4)
        guard version == 2 || version == 3 else {
            throw refusal(file, "is qcow2 version \(version), which lcm does not know", hint: copyAgain)
        }
        if be64(header, 8) != 0 {
            throw refusal(file, "is an overlay: its header names a backing file", hint: flatten)
        }
        if be32(header, 32) != 0 {
            throw refusal(file, "is encrypted", hint: "import an unencrypted golden image; desktops get encrypted overlays")
        }
        let clusterBits = be32(header, 20)
        guard (9...21).contains(clusterBits) else {
            throw refusal(file, "has an invalid qcow2 cluster size (2^\(clusterBits))", hint: copyAgain)
        }
        var extensionsStart = 72
        if version == 3 {
            guard header.count >= 104 else { throw refusal(file, "has a truncated qcow2 header", hint: copyAgain) }
            // Incompatible feature bit 2: the data lives in an external file.
            if be64(header, 72) & (1 << 2) != 0 {
                throw refusal(file, "keeps its data in an external data file", hint: flatten)
            }
            extensionsStart = Int(be32(header, 100))
        }
        // Header extensions lie within the first cluster; walk them there and nowhere else.
        let clusterSize = 1 << Int(clusterBits)
        guard extensionsStart >= 72, extensionsStart < clusterSize else {
            throw refusal(file, "has an invalid qcow2 header length", hint: copyAgain)
        }
        let area = try file.read(at: 0, count: min(clusterSize, headerLimit))
        var offset = extensionsStart
        while offset + 8 <= area.count {
            let type = be32(area, offset), length = Int(be32(area, offset + 4))
            if type == 0 { return }
            if type == 0x4441_5441 {   // "DATA": the external data file's name
                throw refusal(file, "names an external data file", hint: flatten)
            }
            offset += 8 + (length + 7) / 8 * 8
        }
        throw refusal(file, "has qcow2 header extensions that run past its first cluster", hint: copyAgain)
    }

    // MARK: - VMDK

    static func isVMDKDescriptor(_ head: [UInt8]) -> Bool {
        // qemu probes a text file as a VMDK descriptor when a line starts with `version=`; lcm
        // refuses what qemu would take for one, and names it.
        let text = String(decoding: head.prefix(512), as: UTF8.self)
        if text.hasPrefix("# Disk DescriptorFile") { return true }
        return text.split(whereSeparator: \.isNewline).contains { line in
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            return trimmed.hasPrefix("version=") && text.contains("createType")
        }
    }

    static func checkVMDK4(_ file: InputFile) throws {
        let header = try file.read(at: 0, count: 512)
        guard header.count >= 64 else { throw refusal(file, "has a truncated VMDK header", hint: copyAgain) }
        let capacity = le64(header, 12)
        let descriptorSector = le64(header, 28), descriptorSectors = le64(header, 36)
        // A header with no capacity is only a wrapper for its embedded descriptor, which qemu
        // then opens like a descriptor file: its extents can name any file.
        if capacity == 0 {
            throw refusal(file, "is a VMDK whose embedded descriptor names its data in other files", hint: flatten)
        }
        guard descriptorSector != 0 else { return }
        guard descriptorSectors <= UInt64(descriptorLimit / 512),
              descriptorSector < (UInt64.max / 512) else {
            throw refusal(file, "has a VMDK descriptor larger than lcm reads (1 MiB)", hint: copyAgain)
        }
        let bytes = try file.read(at: descriptorSector * 512, count: Int(descriptorSectors) * 512)
        let descriptor = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        for line in descriptor.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("parentFileNameHint") {
                throw refusal(file, "is a VMDK delta disk: its descriptor names a parent file", hint: flatten)
            }
            if trimmed.hasPrefix("createType"), let value = trimmed.split(separator: "=").last {
                let type = value.trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
                guard ["monolithicSparse", "streamOptimized"].contains(type) else {
                    throw refusal(file, "is a VMDK of type \(type), whose data lives in other files", hint: flatten)
                }
            }
        }
    }

    // MARK: - VHD, QED

    static func checkVPC(_ head: [UInt8], _ file: InputFile) throws {
        guard head.count >= 64 else { throw refusal(file, "has a truncated VHD footer", hint: copyAgain) }
        // Disk type 4: a differencing disk, whose parent locators name other files.
        if be32(head, 60) == 4 {
            throw refusal(file, "is a differencing VHD: it names a parent file", hint: flatten)
        }
    }

    static func checkQED(_ head: [UInt8], _ file: InputFile) throws {
        guard head.count >= 64 else { throw refusal(file, "has a truncated QED header", hint: copyAgain) }
        if le64(head, 16) & 1 != 0 || le32(head, 56) != 0 {
            throw refusal(file, "is an overlay: its header names a backing file", hint: flatten)
        }
    }

    // MARK: - Helpers

    static let copyAgain = "check that the file is complete (a copy may have been cut short) and copy it again from its origin"
    static let flatten = "import a standalone image: flatten it first, e.g. `qemu-img convert -O qcow2 IMAGE golden.qcow2`, after checking which files it names"

    static func refusal(_ file: InputFile, _ problem: String, hint: String) -> LCMError {
        LCMError(.dataError, "\(file.path) \(problem)", hint: hint)
    }

    static func be32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        guard at + 4 <= bytes.count else { return 0 }
        return bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
    static func be64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        guard at + 8 <= bytes.count else { return 0 }
        return bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }
    static func le32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        guard at + 4 <= bytes.count else { return 0 }
        return bytes[at..<at + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
    static func le64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        guard at + 8 <= bytes.count else { return 0 }
        return bytes[at..<at + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
