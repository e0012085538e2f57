import Foundation

/// Where a LUKS-encrypted qcow2 file keeps its LUKS header (keyslots included): read from the
/// qcow2 header's "full disk encryption header pointer" extension (type 0x0537be77: offset and
/// length, 64-bit big-endian each). Overwriting that range destroys every keyslot, so no
/// passphrase opens the volume again (crypto-erase).
public struct QcowLUKSHeader: Sendable, Codable, Equatable {
    public var offset: UInt64
    public var length: UInt64

    static let extensionType: UInt32 = 0x0537_be77
    static let luksCryptMethod: UInt32 = 2
    /// The qcow2 header and its extensions lie in the first cluster; 64 KiB covers the default.
    public static let bytesToRead = 64 << 10

    /// The LUKS header's place, nil for a qcow2 file that is not LUKS-encrypted; throws for
    /// bytes that are not a qcow2 header.
    public static func locate(in header: [UInt8]) throws -> QcowLUKSHeader? {
        func u32(_ at: Int) -> UInt32? {
            guard at >= 0, at + 4 <= header.count else { return nil }
            return header[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        func u64(_ at: Int) -> UInt64? {
            guard at >= 0, at + 8 <= header.count else { return nil }
            return header[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard u32(0) == 0x5146_49fb, let version = u32(4), version == 2 || version == 3 else {
            throw LCMError(.dataError, "not a qcow2 header")
        }
        guard u32(32) == luksCryptMethod else { return nil }
        var position = version == 3 ? Int(u32(100) ?? 104) : 72
        while let type = u32(position), type != 0, let length = u32(position + 4) {
            if type == extensionType {
                guard length >= 16, let offset = u64(position + 8), let size = u64(position + 16) else {
                    throw LCMError(.dataError, "qcow2 encryption header extension is truncated")
                }
                return QcowLUKSHeader(offset: offset, length: size)
            }
            position += 8 + (Int(length) + 7) / 8 * 8
        }
        throw LCMError(.dataError, "qcow2 file is LUKS-encrypted but names no LUKS header")
    }
}
