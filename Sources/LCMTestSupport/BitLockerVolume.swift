import Foundation

/// The on-disk signs of a BitLocker-encrypted volume (Windows 7 and later format), written over
/// the Windows partition by the `bitLocker` fault so that offline tools see what they would see
/// on a real encrypted C: drive: libblkid (and so libguestfs `vfs_type`) reports "BitLocker",
/// ntfs-3g finds no NTFS, inspection finds no Windows, and libguestfs 1.48 leaves the volume out
/// of `list_filesystems`.
///
/// What libblkid needs, from the published format (the libbde documentation) and libblkid's
/// BitLocker prober: the first sector starts with the jump `EB 58 90` followed by the signature
/// "-FVE-FS-"; the 64-bit little-endian value at offset 176 (the first of three) is the volume
/// offset of the first FVE metadata block, non-zero and a multiple of 64; that block starts with "-FVE-FS-" too; the
/// metadata header after the 64-byte block header gives the metadata size, and the entries it
/// holds must each be at least 8 bytes and fit inside it (newer libblkid reads the description
/// entry as the label).
///
/// cryptsetup's BITLK support reads further: the metadata state, the encryption method, and
/// the entries for key protectors, the volume key, the saved boot sectors and the description;
/// `cryptsetup bitlkDump` shows them all for this volume.
///
/// Nothing here is a working BitLocker volume: the wrapped keys are random bytes and the
/// "ciphertext" is 1 MiB of pseudo-random filler after the header (and the saved boot sectors);
/// the rest stays zero, as space Windows never wrote does under "used space only" encryption.
/// No tool can unlock it, which is the point.
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
    /// `size` bytes look BitLocker-encrypted. `seed` makes the filler, the keys and the GUIDs
    /// different per disk; `description` is the text Windows records ("<computer> C: <date>").
    static func writes(volumeSize size: Int64, hiddenSectors: UInt32, seed: UInt64, description: String)
        -> [(offset: Int64, bytes: [UInt8])] {
        let offsets = metadataOffsets(volumeSize: size)
        var rng = SplitMix64(seed: seed)
        let block = metadataBlock(offsets: offsets, volumeSize: size, seed: seed, description: description, rng: &rng)
        return [(0, volumeHeader(hiddenSectors: hiddenSectors, metadataOffsets: offsets)),
                (Int64(DiskLayout.sectorSize), randomBytes(cipherFillerSize, &rng)),
                (encryptedBootSectorsOffset(offsets), randomBytes(encryptedBootSectorsSize, &rng))]
            + offsets.map { ($0, block) }
    }

    /// Where BitLocker keeps the volume's original (encrypted) NTFS boot sectors: right after
    /// the first metadata block.
    static func encryptedBootSectorsOffset(_ offsets: [Int64]) -> Int64 { offsets[0] + Int64(metadataBlockSize) }
    static let encryptedBootSectorsSize = 8 << 10

    static func randomBytes(_ count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(count + 8)
        while bytes.count < count { bytes += le(rng.next()) }
        return Array(bytes.prefix(count))
    }

    /// The 512-byte volume header: a FAT32-shaped BPB that no FAT prober accepts (no FATs), the
    /// BitLocker GUID, the metadata block offset, and the boot code's messages.
    static func volumeHeader(hiddenSectors: UInt32, metadataOffsets: [Int64]) -> [UInt8] {
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
        // The three metadata block offsets; libblkid reads the first, cryptsetup all three.
        for (index, offset) in metadataOffsets.enumerated() { put(le(UInt64(offset)), at: 176 + 8 * index) }
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
    /// and the entries Windows writes: two key protectors for the volume master key (TPM, and a
    /// recovery password), the full volume encryption key, where the original boot sectors are,
    /// and the volume description. The wrapped keys are random bytes: nothing unwraps them.
    static func metadataBlock(offsets: [Int64], volumeSize: Int64, seed: UInt64, description: String,
                              rng: inout SplitMix64) -> [UInt8] {
        let created = le(RegistryHive.fileTime(WindowsRegistryContent.installDate))
        // An AES-CCM wrapped key: 12-byte nonce, 16-byte MAC, then the key (44 bytes, as Windows stores it).
        let wrappedKey = { (rng: inout SplitMix64) in randomBytes(12 + 16 + 44, &rng) }
        func protector(_ kind: UInt16, guidSalt: UInt64, nested: [UInt8]) -> [UInt8] {
            entry(type: 0x0002, value: 0x0008, DiskLayout.guidBytes(DiskLayout.derivedGUID(seed: seed, salt: guidSalt))
                  + created + le(UInt16(0)) + le(kind) + nested)
        }
        let tpm = protector(0x0100, guidSalt: 0xB18, nested: entry(type: 0x0000, value: 0x0006, randomBytes(80, &rng)))
        // A recovery password protector: the password stretched with a salt (AES-CCM method
        // 0x1000), then the wrapped master key.
        let stretch = entry(type: 0x0000, value: 0x0003, le(UInt32(0x1000)) + randomBytes(16, &rng))
        let recovery = protector(0x0800, guidSalt: 0xB19,
                                 nested: stretch + entry(type: 0x0000, value: 0x0005, wrappedKey(&rng)))
        let fullVolumeKey = entry(type: 0x0003, value: 0x0005, wrappedKey(&rng))
        let bootSectors = entry(type: 0x000F, value: 0x000F,
                                le(UInt64(encryptedBootSectorsOffset(offsets))) + le(UInt64(encryptedBootSectorsSize)))
        let text = entry(type: 0x0007, value: 0x0002, description.utf16.flatMap { le($0) } + [0, 0])
        let entries = tpm + recovery + fullVolumeKey + bootSectors + text
        let metadataSize = UInt32(48 + entries.count)

        var header = [UInt8](repeating: 0, count: 64)
        func put(_ bytes: [UInt8], at offset: Int) { header.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        put(Array(signature.utf8), at: 0)
        put(le(UInt16(2)), at: 10)                              // format version 2 (Windows 7+)
        put(le(UInt16(4)), at: 12)                              // state: fully encrypted
        put(le(UInt16(4)), at: 14)                              // next state: the same
        put(le(UInt64(volumeSize)), at: 16)                     // encrypted volume size
        put(le(UInt32(UInt32(encryptedBootSectorsSize) / 512)), at: 28)
        for (index, offset) in offsets.enumerated() { put(le(UInt64(offset)), at: 32 + 8 * index) }
        put(le(UInt64(encryptedBootSectorsOffset(offsets))), at: 56)

        var metadata: [UInt8] = le(metadataSize) + le(UInt32(1)) + le(UInt32(48)) + le(metadataSize)
        metadata += DiskLayout.guidBytes(DiskLayout.derivedGUID(seed: seed, salt: 0xB17))   // volume GUID
        metadata += le(UInt32(1))                               // next nonce counter
        metadata += le(UInt16(encryptionMethodXTSAES128)) + [0, 0]
        metadata += created
        return header + metadata + entries
    }

    /// One metadata entry: size, entry type, value type, version 1, data.
    static func entry(type: UInt16, value: UInt16, _ data: [UInt8]) -> [UInt8] {
        le(UInt16(8 + data.count)) + le(type) + le(value) + le(UInt16(1)) + data
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
