import Foundation

/// Generates Windows registry hive files (the "regf" format) from nothing, because hivex can
/// edit hives but not create one.
///
/// Layout, per the published format description: a 4096-byte base block, then hive bins
/// ("hbin" blocks, each a multiple of 4096 bytes) holding cells. A cell starts with a signed
/// 32-bit size (negative while allocated, a multiple of 8, including the size field itself);
/// offsets between cells are relative to the start of the first hive bin.
public enum RegistryHive {
    /// 2024-01-01T00:00:00Z: the default "last written" time, so output is reproducible.
    public static let defaultTimestamp = Date(timeIntervalSince1970: 1_704_067_200)

    /// A valid hive with only a root key: no subkeys, no values, one security descriptor.
    ///
    /// - Parameters:
    ///   - rootName: the root key's name (Windows uses e.g. `CMI-CreateHive{...}` or `ROOT`;
    ///     it is not part of any key path).
    ///   - lastWritten: written into the base block, the first hbin and the root key.
    ///   - minorVersion: 3 (NT 4) or 5 (XP and later, what current Windows writes; lets hivex
    ///     use "lh" subkey lists and big data records).
    public static func minimal(
        rootName: String = "ROOT", lastWritten: Date = defaultTimestamp, minorVersion: UInt32 = 5
    ) -> [UInt8] {
        minimal(rootName: rootName, fileTime: fileTime(lastWritten), minorVersion: minorVersion)
    }

    /// `minimal(rootName:lastWritten:minorVersion:)` with the time as a raw Windows FILETIME
    /// (100 ns intervals since 1601-01-01 UTC).
    public static func minimal(rootName: String = "ROOT", fileTime timestamp: UInt64, minorVersion: UInt32 = 5) -> [UInt8] {
        build(root: RegistryKey(rootName), fileTime: timestamp, minorVersion: minorVersion)
    }

    /// A Windows FILETIME: 100 ns intervals since 1601-01-01 UTC.
    public static func fileTime(_ date: Date) -> UInt64 {
        let t = max(-11_644_473_600, date.timeIntervalSince1970)
        let whole = t.rounded(.down)
        return UInt64(Int64(whole) + 11_644_473_600) * 10_000_000 + UInt64((t - whole) * 10_000_000)
    }

    /// The base block checksum: XOR of the first 127 little-endian 32-bit words.
    public static func checksum(ofBaseBlock block: ArraySlice<UInt8>) -> UInt32 {
        var sum: UInt32 = 0
        var i = block.startIndex
        while i < block.startIndex + RegfLayout.checksumOffset {
            sum ^= UInt32(block[i]) | UInt32(block[i + 1]) << 8 | UInt32(block[i + 2]) << 16 | UInt32(block[i + 3]) << 24
            i += 4
        }
        return sum
    }
}

// MARK: - Format building blocks
//
// Nested in RegistryHive so their plain names cannot clash with the rest of LCMTestSupport.

extension RegistryHive {
    /// Sizes and magic numbers of the regf format.
    enum RegfLayout {
        static let baseBlockSize = 4096
        static let checksumOffset = 508
        static let hbinAlignment = 4096
        static let hbinHeaderSize = 32
        static let cellAlignment = 8
        /// "No cell" in an offset field.
        static let nilOffset: UInt32 = 0xFFFF_FFFF

        static func align(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }
    }

    // MARK: - Base block

    /// The 4096-byte header of a hive file.
    struct BaseBlock {
        var sequence: UInt32
        var lastWritten: UInt64
        var minorVersion: UInt32
        var rootCell: UInt32
        var hiveBinsSize: UInt32

        func bytes() -> [UInt8] {
            var timestamp = lastWritten
            while true {
                var b = ByteBuffer(count: RegfLayout.baseBlockSize)
                b.setASCII("regf", at: 0)
                b.setU32(sequence, at: 4)          // primary sequence number
                b.setU32(sequence, at: 8)          // secondary: equal, so the hive is consistent
                b.setU64(timestamp, at: 12)
                b.setU32(1, at: 20)                // major version
                b.setU32(minorVersion, at: 24)
                b.setU32(0, at: 28)                // file type: primary
                b.setU32(1, at: 32)                // file format: direct memory load
                b.setU32(rootCell, at: 36)
                b.setU32(hiveBinsSize, at: 40)
                b.setU32(1, at: 44)                // clustering factor
                let sum = RegistryHive.checksum(ofBaseBlock: b.bytes[...])
                // Windows stores 0 as 1 and 0xFFFFFFFF as 0xFFFFFFFE while hivex compares the raw
                // XOR; shifting the timestamp by 100 ns avoids the two values where they disagree.
                if sum == 0 || sum == 0xFFFF_FFFF {
                    timestamp &+= 1
                    continue
                }
                b.setU32(sum, at: RegfLayout.checksumOffset)
                return b.bytes
            }
        }
    }

    // MARK: - Cells

    /// Key node flags (`nk` cells).
    struct KeyNodeFlags: OptionSet {
        let rawValue: UInt16
        static let volatile = Self(rawValue: 0x0001)
        static let hiveExit = Self(rawValue: 0x0002)
        /// The root key of the hive.
        static let hiveEntry = Self(rawValue: 0x0004)
        static let noDelete = Self(rawValue: 0x0008)
        static let symbolicLink = Self(rawValue: 0x0010)
        /// The name is stored one byte per character (Latin-1) rather than UTF-16LE.
        static let compressedName = Self(rawValue: 0x0020)
    }

    /// Key node ("nk") cell layout: 0x4C bytes of fixed fields, then the name.
    enum KeyNodeCell {
        static let fixedSize = 0x4C

        static func payloadSize(name: String) -> Int { fixedSize + encodedName(name).bytes.count }

        /// Latin-1 when every character fits (the "compressed" form Windows prefers), else UTF-16LE.
        static func encodedName(_ name: String) -> (bytes: [UInt8], compressed: Bool) {
            let scalars = name.unicodeScalars
            if scalars.allSatisfy({ $0.value <= 0xFF }) {
                return (scalars.map { UInt8($0.value) }, true)
            }
            return (name.utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }, false)
        }
    }

    /// Key security ("sk") cell layout: links, reference count, descriptor size, descriptor.
    /// Security cells form a circular doubly linked list.
    enum SecurityCell {
        static func payloadSize(descriptor: [UInt8]) -> Int { 0x14 + descriptor.count }
    }

    /// Self-relative Windows security descriptors for keys.
    enum SecurityDescriptor {
        /// Owner Administrators, group SYSTEM; DACL: SYSTEM and Administrators full control,
        /// Users read, all inherited by subkeys.
        static let defaultKey: [UInt8] = {
            let system = sid(authority: 5, [18])
            let administrators = sid(authority: 5, [32, 544])
            let users = sid(authority: 5, [32, 545])
            let keyAllAccess: UInt32 = 0x000F_003F
            let keyRead: UInt32 = 0x0002_0019
            let dacl = acl([
                allowedACE(keyAllAccess, system),
                allowedACE(keyAllAccess, administrators),
                allowedACE(keyRead, users),
            ])
            let headerSize = 20
            let ownerOffset = headerSize
            let groupOffset = ownerOffset + administrators.count
            let daclOffset = groupOffset + system.count
            var b = ByteBuffer(count: headerSize)
            b.setBytes([1, 0], at: 0)                          // revision, Sbz1
            b.setU16(0x8004, at: 2)                            // SE_SELF_RELATIVE | SE_DACL_PRESENT
            b.setU32(UInt32(ownerOffset), at: 4)
            b.setU32(UInt32(groupOffset), at: 8)
            b.setU32(0, at: 12)                                // no SACL
            b.setU32(UInt32(daclOffset), at: 16)
            return b.bytes + administrators + system + dacl
        }()

        static func sid(authority: UInt8, _ subAuthorities: [UInt32]) -> [UInt8] {
            var b = ByteBuffer(count: 8 + 4 * subAuthorities.count)
            b.setBytes([1, UInt8(subAuthorities.count), 0, 0, 0, 0, 0, authority], at: 0)
            for (i, sub) in subAuthorities.enumerated() { b.setU32(sub, at: 8 + 4 * i) }
            return b.bytes
        }

        /// ACCESS_ALLOWED_ACE with CONTAINER_INHERIT_ACE.
        static func allowedACE(_ mask: UInt32, _ sid: [UInt8]) -> [UInt8] {
            var b = ByteBuffer(count: 8)
            b.setBytes([0x00, 0x02], at: 0)                    // type, flags
            b.setU16(UInt16(8 + sid.count), at: 2)
            b.setU32(mask, at: 4)
            return b.bytes + sid
        }

        static func acl(_ aces: [[UInt8]]) -> [UInt8] {
            let body = aces.flatMap { $0 }
            var b = ByteBuffer(count: 8)
            b.setBytes([2, 0], at: 0)                          // ACL revision, Sbz1
            b.setU16(UInt16(8 + body.count), at: 2)
            b.setU16(UInt16(aces.count), at: 4)
            return b.bytes + body
        }
    }

    // MARK: - Bytes

    /// A little-endian byte buffer with fixed-offset writes.
    struct ByteBuffer {
        private(set) var bytes: [UInt8]

        init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }

        var count: Int { bytes.count }

        mutating func grow(by n: Int) { bytes.append(contentsOf: repeatElement(0, count: n)) }

        mutating func setBytes(_ v: [UInt8], at offset: Int) {
            bytes.replaceSubrange(offset..<offset + v.count, with: v)
        }

        mutating func setASCII(_ s: String, at offset: Int) { setBytes(Array(s.utf8), at: offset) }

        mutating func setU16(_ v: UInt16, at offset: Int) { setLE(UInt64(v), 2, at: offset) }
        mutating func setU32(_ v: UInt32, at offset: Int) { setLE(UInt64(v), 4, at: offset) }
        mutating func setI32(_ v: Int32, at offset: Int) { setU32(UInt32(bitPattern: v), at: offset) }
        mutating func setU64(_ v: UInt64, at offset: Int) { setLE(v, 8, at: offset) }

        private mutating func setLE(_ v: UInt64, _ width: Int, at offset: Int) {
            for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        }
    }
}
