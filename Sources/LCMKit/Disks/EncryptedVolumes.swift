import Foundation
import Libvirt

/// An encrypted volume created on a device.
public struct EncryptedVolume: Codable, Sendable, Equatable {
    public var uri: String
    public var pool: String
    public var name: String
    /// Its path on the device (for domain XML, which is evaluated there).
    public var path: String
    public var keyID: String
    /// The device's libvirt secret holding the passphrase.
    public var secretUUID: String
    public var virtualSize: UInt64
    public var backingPath: String?

    /// The engine's handle on it.
    public var diskVolume: DiskVolume { .libvirt(uri: uri, pool: pool, volume: name, keyID: keyID) }

    /// This volume as a desktop's disk: its path on the device, unlocked by the device's secret.
    public func desktopDisk(bus: DesktopDomain.DiskBus = .virtio, discard: Bool = true) -> DesktopDomain.Disk {
        DesktopDomain.Disk(path: path, bus: bus, luksSecretUUID: secretUUID, discard: discard)
    }

    /// A `<disk>` element for a domain (qcow2, unlocked by the device's secret); the same element
    /// `DesktopDomain.xml()` writes.
    public func domainDiskXML(target: String = "vda", bus: DesktopDomain.DiskBus = .virtio) throws -> String {
        try DesktopDomain.diskXML(desktopDisk(bus: bus, discard: false), target: target)
    }
}

/// Creates volumes on a device by building the file on lcm's machine and uploading it through a
/// libvirt stream, so a local and a remote device take the same path.
///
/// Why not `virStorageVolCreateXML` with `<encryption format='luks'>`: libvirt runs qemu-img with
/// qemu's default PBKDF settings, whose calibration fails intermittently here ("Unable to get
/// accurate CPU usage", 3 of 6 tries), and offers no way to pick the hash or the iteration time.
public enum DeviceVolumes {
    /// Creates a LUKS-encrypted qcow2 volume `name` in `pool` on the device, encrypted with `key`:
    /// a plain volume of `virtualSize` bytes, or an overlay on the device volume `backing`
    /// (same pool) whose size it takes by default. Installs the key's libvirt secret on the device
    /// if it is not there yet and registers the volume's keyslots as a copy of the key.
    public static func createEncrypted(
        name: String, on connection: Connection, pool poolName: String = DeviceStoragePool.name,
        virtualSize: UInt64? = nil, backing: String? = nil, key: DesktopKey, inventory: Inventory,
        recorder: LeftoverRecorder? = nil
    ) throws -> EncryptedVolume {
        let uri = try connection.uri
        let pool = try DeviceStoragePool.open(named: poolName, on: connection)
        if try pool.lookupVolume(name: name) != nil {
            throw LCMError(.conflict, "volume \(name) already exists in pool \(poolName) at \(uri)")
        }
        var backingLayer: (path: String, format: String)?
        var size = virtualSize
        if let backing {
            guard let base = try pool.lookupVolume(name: backing) else {
                throw LCMError.notFound("backing volume \(backing) in pool \(poolName) at \(uri)")
            }
            let description = VolumeDescription.parse(try base.xmlDescription())
            backingLayer = (try base.path, description.format)
            if size == nil { size = try base.info().capacity }
        }
        guard size != nil || backingLayer != nil else {
            throw LCMError(.usage, "an encrypted volume needs a size or a backing volume")
        }

        let passphrase = try DesktopKey.passphrase(keyID: key.id, inventory: inventory)
        try inventory.home.prepare()
        let local = inventory.home.runURL.appendingPathComponent("new-\(UUID().uuidString.prefix(8)).qcow2").path
        let token = try recorder?.record(.file(local))
        defer {
            unlink(local)
            if let token { try? recorder?.release(token) }
        }
        try QemuImage.createEncrypted(path: local, virtualSize: size, backing: backingLayer, passphrase: passphrase)

        _ = try inventory.write { db in
            try KeyCopyRegistry.register(db, keyID: key.id, location: .luksKeyslots, hostURI: uri,
                                         detail: "\(poolName)/\(name)")
        }
        let volume = try importFile(local, as: name, into: pool)
        do {
            let description = VolumeDescription.parse(try volume.xmlDescription())
            guard description.format == "qcow2", description.encryptionFormat == "luks",
                  description.backingPath == backingLayer?.path else {
                throw LCMError(.failure, "libvirt does not see \(name) as a LUKS qcow2 after the upload")
            }
            let secret = try key.installSecret(on: connection, inventory: inventory, passphrase: passphrase)
            return EncryptedVolume(uri: uri, pool: poolName, name: name, path: try volume.path, keyID: key.id,
                                   secretUUID: secret, virtualSize: try volume.info().capacity,
                                   backingPath: backingLayer?.path)
        } catch {
            try? volume.delete()
            throw error
        }
    }

    /// Copies a local image file into a new volume `name` of `pool` through a stream: a raw volume
    /// of exactly the file's size receives the bytes, the device's copy is hashed back and compared,
    /// and a pool refresh lets libvirt see the real format (qcow2, encryption, backing file).
    @discardableResult
    public static func importFile(_ path: String, as name: String, into pool: StoragePool) throws -> StorageVolume {
        let local = try VolumeTransfer.localHash(path)
        let volume = try pool.createVolume(xml: """
            <volume>
              <name>\(XMLText.escape(name))</name>
              <capacity unit='bytes'>\(local.bytes)</capacity>
              <allocation unit='bytes'>0</allocation>
              <target><format type='raw'/><permissions><mode>0600</mode></permissions></target>
            </volume>
            """)
        do {
            try volume.upload(from: URL(fileURLWithPath: path))
            let remote = try VolumeTransfer.remoteHash(volume)
            guard remote.bytes == local.bytes, remote.sha256 == local.sha256 else {
                throw LCMError(.unavailable, "the device's copy of \(name) differs from the uploaded file (SHA-256 mismatch)")
            }
            try pool.refresh()
            guard let refreshed = try pool.lookupVolume(name: name) else {
                throw LCMError(.unavailable, "volume \(name) vanished after upload")
            }
            return refreshed
        } catch {
            try? volume.delete()
            throw error
        }
    }
}
