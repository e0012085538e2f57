import Foundation

/// The on-disk signs of a BitLocker-encrypted volume (Windows 7 and later format), written over
/// the Windows partition by the `bitLocker` fault so that offline tools see what they would see
/// on a real encrypted C: drive: libblkid (and so libguestfs `vfs_type`) reports "BitLocker",
/// ntfs-3g finds no NTFS, inspection finds no Windows, and libguestfs 1.48 leaves the volume out
/// of `list_filesystems`.
///
/// What libblkid needs, from the published format (the libbde documentation) and libblkid's
/// BitLocker prober: the first sector starts with the jump `EB 58 90` followed by the signature
/// "-FVE-FS-"; the 64-bit little-endian value at offset 176 is the volume offset of the first FVE
/// metadata block, non-zero and a multiple of 64; that block starts with "-FVE-FS-" too; the
/// metadata header after the 64-byte block header gives the metadata size, and the entries it
/// holds must each be at least 8 bytes and fit inside it (newer libblkid reads the description
/// entry as the label).
///
/// Nothing here is a working BitLocker volume: there are no key protectors and the "ciphertext"
/// is 1 MiB of pseudo-random filler after the header; the rest stays zero, as space Windows never
/// wrote does under "used space only" encryption. No tool can unlock it, which is the point.
public enum BitLockerVolume {
    /// The signature at offset 3 of the volume header and at the start of each metadata block.
    public static let signature = "-FVE-FS-"
    /// The filesystem type libblkid (and so libguestfs `vfs_type`) reports for such a volume.
    public static let blkidType = "BitLocker"
    /// The GUID at offset 160 of a Windows 7+ BitLocker volume header.
    public static let volumeHeaderGUID = "4967D63B-2E29-4AD8-8399-F6A339E3D001"
    /// XTS-AES 128, what Windows 10 and 11 choose by default.
    static let encryptionMethodXTSAES128: UInt16 = 0x8004
    /// Each FVE metadata block occupies 64 KiB on the volume.
    static let metadataBlockSize = 64 << 10
    /// Bytes of pseudo-random filler after the volume header, standing in for the encrypted
    /// start of the NTFS volume (where its boot code and $MFT would be).
    static let cipherFillerSize = 1 << 20

    /// The three metadata block offsets (from the start of the volume) for a volume of `size` bytes:
    /// spread over the volume and 64 KiB aligned, as Windows places them.
    public static func metadataOffsets(volumeSize size: Int64) -> [Int64] {
        let align = Int64(metadataBlockSize)
        return (1...3).map { quarter in (size / 4 * Int64(quarter)) / align * align }
    }

    /// Every write (offset from the start of the volume, bytes) that makes a zeroed volume of
    /// `size` bytes look BitLocker-encrypted. `seed` makes the filler and the volume GUID
    /// different per disk; `description` is the text Windows records ("<computer> C: <date>").
    static func writes(volumeSize size: Int64, hiddenSectors: UInt32, seed: UInt64, description: String)
        -> [(offset: Int64, bytes: [UInt8])] {
        let offsets = metadataOffsets(volumeSize: size)
        var rng = SplitMix64(seed: seed)
        var filler = [UInt8]()
        filler.reserveCapacity(cipherFillerSize)
        while filler.count < cipherFillerSize { filler += le(rng.next()) }
        let volumeGUID = DiskLayout.derivedGUID(seed: seed, salt: 0xB17)
        let block = metadataBlock(offsets: offsets, volumeSize: size, volumeGUID: volumeGUID, description: description)
        return [(0, volumeHeader(hiddenSectors: hiddenSectors, firstMetadataOffset: offsets[0])),
                (Int64(DiskLayout.sectorSize), filler)]
            + offsets.map { ($0, block) }
    }

    /// The 512-byte volume header: a FAT32-shaped BPB that no FAT prober accepts (no FATs), the
    /// BitLocker GUID, the metadata block offset, and the boot code's messages.
    static func volumeHeader(hiddenSectors: UInt32, firstMetadataOffset: Int64) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int) { b.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        put([0xEB, 0x58, 0x90], at: 0)                          // jump over the BPB
        put(Array(signature.utf8), at: 3)
        put(le(UInt16(512)), at: 11)                            // bytes per sector
        b[13] = 8                                               // sectors per cluster
        b[21] = 0xF8                                            // media: fixed disk
        put(le(UInt16(63)), at: 24)                             // sectors per track
        put(le(UInt16(255)), at: 26)                            // heads
        put(le(hiddenSectors), at: 28)                          // partition start
        b[64] = 0x80                                            // drive number
        b[66] = 0x29                                            // extended boot signature
        // The volume serial (offset 67) stays zero, as on real BitLocker volumes.
        put(Array("NO NAME    ".utf8), at: 71)
        put(Array("FAT32   ".utf8), at: 82)
        put(DiskLayout.guidBytes(volumeHeaderGUID), at: 160)
        put(le(UInt64(firstMetadataOffset)), at: 176)
        // The boot code's error messages end just before the boot signature, as in a real
        // header. They also fill the bytes an MBR would use for its partition entries, so
        // nothing mistakes the volume header for a partition table.
        let messages = Array("\r\nRemove disks or other media.".utf8) + [0xFF] + Array("\r\nDisk error".utf8) + [0xFF]
            + Array("\r\nPress any key to restart\r\n".utf8)
        put(messages, at: 0x1F8 - messages.count)
        put([0x55, 0xAA], at: 510)
        return b
    }

    /// One FVE metadata block (the three copies are identical): block header, metadata header,
    /// and a volume description entry.
    static func metadataBlock(offsets: [Int64], volumeSize: Int64, volumeGUID: String, description: String) -> [UInt8] {
        // Description entry: size, type 7 (description), value type 2 (UTF-16 string), version 1.
        let text: [UInt8] = description.utf16.flatMap { le($0) } + [0, 0]
        var entry: [UInt8] = le(UInt16(8 + text.count)) + le(UInt16(0x0007))
        entry += le(UInt16(0x0002)) + le(UInt16(1)) + text
        let metadataSize = UInt32(48 + entry.count)

        var header = [UInt8](repeating: 0, count: 64)
        func put(_ bytes: [UInt8], at offset: Int) { header.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        put(Array(signature.utf8), at: 0)
        put(le(UInt16(2)), at: 10)                              // format version 2 (Windows 7+)
        put(le(UInt64(volumeSize)), at: 16)                     // encrypted volume size
        put(le(UInt32(16)), at: 28)                             // volume header sectors kept aside
        for (index, offset) in offsets.enumerated() { put(le(UInt64(offset)), at: 32 + 8 * index) }
        // The original NTFS boot sector, encrypted, sits right after the first block.
        put(le(UInt64(offsets[0] + Int64(metadataBlockSize))), at: 56)

        var metadata: [UInt8] = le(metadataSize) + le(UInt32(1)) + le(UInt32(48)) + le(metadataSize)
        metadata += DiskLayout.guidBytes(volumeGUID)
        metadata += le(UInt32(1))                               // next nonce counter
        metadata += le(UInt16(encryptionMethodXTSAES128)) + [0, 0]
        metadata += le(RegistryHive.fileTime(WindowsRegistryContent.installDate))
        return header + metadata + entry
    }
}

extension BitLockerVolume {
    /// The volume description Windows records when it encrypts C: ("<computer name> C: <date>").
    /// libblkid versions that read the metadata entries report it as the label; Debian 12's
    /// (2.38) reads only the headers and reports none.
    public static func description(for spec: WindowsDiskSpec) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let day = calendar.dateComponents([.year, .month, .day], from: WindowsRegistryContent.installDate)
        return "\(spec.computerName) C: \(day.month!)/\(day.day!)/\(day.year!)"
    }
}
