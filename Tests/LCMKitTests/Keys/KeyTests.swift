import Foundation
import GRDB
@testable import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// Desktop keys: escrow under the master key, a private libvirt secret on the device, the registry
/// of copies, and destruction that proves each copy is gone.
extension DiskIntegrationTests {
    @Test func keyLivesInEscrowAndAPrivateSecretAndIsDestroyedEverywhere() throws {
        let scratch = ScratchDirectory(prefix: "lcm-keys")
        let inventory = try DiskTestTools.inventory(scratch)
        let device = try Connection(uri: "qemu:///system")
        let key = try DesktopKey.create(ownerKind: "desktop", ownerID: "key-test", inventory: inventory, device: device)

        // The escrow opens to a 64-hex-digit passphrase; the master key file is private.
        let passphrase = try DesktopKey.passphrase(keyID: key.id, inventory: inventory)
        #expect(passphrase.count == 64)
        var info = stat()
        #expect(stat(MasterKey.path(home: inventory.home).path, &info) == 0 && info.st_mode & 0o077 == 0)

        // Every copy is registered: escrow, the libvirt secret and the file libvirtd keeps it in.
        let copies = try DesktopKey.copies(keyID: key.id, inventory: inventory)
        #expect(Set(copies.map(\.location)) == [.escrow, .libvirtSecret, .libvirtSecretFile])
        let uuid = try #require(copies.first { $0.location == .libvirtSecret }?.detail)
        let file = try #require(copies.first { $0.location == .libvirtSecretFile }?.detail)
        #expect(file == "/etc/libvirt/secrets/\(uuid).base64")
        #expect(FileManager.default.fileExists(atPath: file))

        // The secret is private: libvirt does not hand its value out, and its XML says so.
        let secret = try #require(try device.lookupSecret(uuid: uuid))
        #expect(throws: LibvirtError.self) { try secret.value() }
        let xml = try secret.xmlDescription()
        #expect(xml.contains("private='yes'") && xml.contains("ephemeral='no'"))
        #expect(xml.contains(DesktopKey.secretUsageID(key.id)))

        // Installing again changes nothing (one secret per key and device).
        #expect(try key.installSecret(on: device, inventory: inventory) == uuid)
        #expect(try DesktopKey.copies(keyID: key.id, inventory: inventory).count == 3)

        // The sealed value never holds the passphrase in clear.
        let sealed = try #require(try inventory.read { try Data.fetchOne($0, sql: "SELECT sealed FROM keyEscrow") })
        let text = passphrase.withBytes { Data($0) }
        #expect(sealed.range(of: text) == nil)
        #expect(!FileScan.contains(path: inventory.home.databaseURL.path, needle: text))

        let report = try DesktopKey.destroyAll(keyID: key.id, inventory: inventory)
        #expect(report.complete, "\(report.items.map { "\($0.location): \($0.outcome) \($0.how)" })")
        #expect(report.items.allSatisfy { $0.outcome == .destroyed && $0.verified })
        #expect(try device.lookupSecret(uuid: uuid) == nil)
        #expect(!FileManager.default.fileExists(atPath: file))
        // The sealed bytes are in neither the database nor its WAL.
        let database = inventory.home.databaseURL.path
        #expect(!FileScan.contains(path: database, needle: sealed))
        #expect(!FileScan.contains(path: database + "-wal", needle: sealed))
        #expect(throws: LCMError.self) { try DesktopKey.passphrase(keyID: key.id, inventory: inventory) }
        #expect(try DesktopKey.copies(keyID: key.id, inventory: inventory).isEmpty)
        let all = try DesktopKey.copies(keyID: key.id, inventory: inventory, includeDestroyed: true)
        #expect(all.count == 3 && all.allSatisfy { $0.destroyedAt != nil && $0.destroyedHow?.contains("verified") == true })
        #expect(try DesktopKey.find(id: key.id, inventory: inventory)?.destroyedAt != nil)

        // Destroying again is harmless.
        #expect(try DesktopKey.destroyAll(keyID: key.id, inventory: inventory).items.isEmpty)
    }

    @Test func temporaryKeyFileIsPrivateRegisteredAndShredded() throws {
        let scratch = ScratchDirectory(prefix: "lcm-keyfile")
        let inventory = try DiskTestTools.inventory(scratch)
        let key = try DesktopKey.create(ownerKind: "desktop", ownerID: "tmp", inventory: inventory)
        let passphrase = try DesktopKey.passphrase(keyID: key.id, inventory: inventory)
        let file = try TemporaryKeyFile(keyID: key.id, passphrase: passphrase, inventory: inventory, recorder: nil)
        var info = stat()
        #expect(stat(file.path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try DesktopKey.copies(keyID: key.id, inventory: inventory).contains { $0.location == .tempFile && $0.detail == file.path })
        file.remove()
        #expect(!FileManager.default.fileExists(atPath: file.path))
        #expect(try !DesktopKey.copies(keyID: key.id, inventory: inventory).contains { $0.location == .tempFile })
    }
}

/// The PBKDF choice: encrypted images are created without a single calibration failure escaping.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-img")))
struct KeyEncryptionFormatTests {
    @Test func encryptedQcow2UsesLUKSWithSHA512AndOpensOnlyWithItsKey() throws {
        let scratch = ScratchDirectory(prefix: "lcm-luks")
        let path = scratch.file("e.qcow2").path
        let passphrase = DiskPassphrase.random()
        try QemuImage.createEncrypted(path: path, virtualSize: 64 << 20, backing: nil, passphrase: passphrase)
        let info = try QemuImage.info(path: path)
        #expect(info.count == 1 && info[0].encrypted && info[0].encryptionFormat == "luks")
        let dump = try ProgramRun.run("/usr/bin/qemu-img", ["info", path]).stdout
        #expect(dump.contains("hash alg: sha512"))
        let options = QemuImage.imageOptions(chain: [.init(path: path, format: "qcow2", encrypted: true)])
        #expect(try QemuImage.check(path: path, format: "qcow2", imageOptions: options, passphrase: passphrase).isUsable)
        #expect(throws: ImageError.self) {
            try QemuImage.check(path: path, format: "qcow2", imageOptions: options, passphrase: DiskPassphrase.random())
        }
        // The passphrase was in no argv and no file: qemu-img read it from its stdin.
        let text = passphrase.withBytes { String(decoding: $0, as: UTF8.self) }
        #expect(!(try DiskTestTools.fileContains(path, text)))
    }

    @Test func derivedVolumesTakeTheirOwnBackingAndSizeAndOpenWithTheSameKey() throws {
        let scratch = ScratchDirectory(prefix: "lcm-luks-derive")
        let base = scratch.file("base.qcow2").path
        try QemuImage.createPlain(path: base, virtualSize: 96 << 20)
        let passphrase = DiskPassphrase.random()
        let overlay = scratch.file("os.qcow2").path, data = scratch.file("data.qcow2").path, grown = scratch.file("grown.qcow2").path
        try QemuImage.createEncrypted(path: overlay, virtualSize: nil, backing: (base, "qcow2"), passphrase: passphrase)
        // Shrunk and cut loose from the backing file; grown and given one.
        try QemuImage.deriveEncrypted(from: overlay, path: data, virtualSize: 32 << 20, backing: nil, passphrase: passphrase)
        try QemuImage.deriveEncrypted(from: data, path: grown, virtualSize: 200 << 20, backing: (base, "qcow2"), passphrase: passphrase)

        let dataInfo = try QemuImage.info(path: data)
        #expect(dataInfo.count == 1 && dataInfo[0].encrypted && dataInfo[0].virtualSize == 32 << 20, "\(dataInfo)")
        let grownInfo = try QemuImage.info(path: grown)
        #expect(grownInfo.count == 2 && grownInfo[0].encrypted && grownInfo[0].virtualSize == 200 << 20, "\(grownInfo)")
        #expect(grownInfo.count == 2 && grownInfo[1].filename == base)
        for (path, chain) in [(data, [QemuImage.Layer(path: data, format: "qcow2", encrypted: true)]),
                              (grown, [.init(path: grown, format: "qcow2", encrypted: true), .init(path: base, format: "qcow2", encrypted: false)])] {
            let options = QemuImage.imageOptions(chain: chain)
            #expect(try QemuImage.check(path: path, format: "qcow2", imageOptions: options, passphrase: passphrase).isUsable)
            #expect(throws: ImageError.self) {
                try QemuImage.check(path: path, format: "qcow2", imageOptions: options, passphrase: DiskPassphrase.random())
            }
        }
        // A failed derivation leaves no file.
        #expect(throws: ImageError.self) {
            try QemuImage.deriveEncrypted(from: overlay, path: scratch.file("bad.qcow2").path, virtualSize: 1 << 20,
                                          backing: nil, passphrase: DiskPassphrase.random())
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("bad.qcow2").path))
    }
}
