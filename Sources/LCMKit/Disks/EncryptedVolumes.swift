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
    /// One volume for `createEncrypted(_:on:...)`: a plain volume of `virtualSize` bytes, or an
    /// overlay on the device volume `backing` (same pool) whose size it takes by default.
    public struct Request: Sendable, Equatable {
        public var name: String
        public var virtualSize: UInt64?
        public var backing: String?
        /// A local raw file whose data the volume starts with (written before the upload).
        public var contents: String?
        public init(name: String, virtualSize: UInt64? = nil, backing: String? = nil, contents: String? = nil) {
            self.name = name; self.virtualSize = virtualSize; self.backing = backing; self.contents = contents
        }
    }

    /// Creates a LUKS-encrypted qcow2 volume `name` in `pool` on the device, encrypted with `key`:
    /// a plain volume of `virtualSize` bytes, or an overlay on the device volume `backing`
    /// (same pool) whose size it takes by default. Installs the key's libvirt secret on the device
    /// if it is not there yet and registers the volume's keyslots as a copy of the key.
    public static func createEncrypted(
        name: String, on connection: Connection, pool poolName: String = DeviceStoragePool.name,
        virtualSize: UInt64? = nil, backing: String? = nil, key: DesktopKey, inventory: Inventory,
        recorder: LeftoverRecorder? = nil
    ) throws -> EncryptedVolume {
        try createEncrypted([Request(name: name, virtualSize: virtualSize, backing: backing)], on: connection, pool: poolName,
                            key: key, inventory: inventory, recorder: recorder)[0]
    }

    /// Creates one owner's volumes, all encrypted with `key`, as `createEncrypted(name:...)` does
    /// for one. The LUKS header is built once and copied into the others (`QemuImage.deriveEncrypted`:
    /// building each costs seconds of PBKDF calibration). All or nothing: a failure deletes the
    /// volumes this call uploaded.
    public static func createEncrypted(
        _ requests: [Request], on connection: Connection, pool poolName: String = DeviceStoragePool.name,
        key: DesktopKey, inventory: Inventory, recorder: LeftoverRecorder? = nil
    ) throws -> [EncryptedVolume] {
        guard !requests.isEmpty else { return [] }
        let uri = try connection.uri
        let pool = try DeviceStoragePool.open(named: poolName, on: connection)
        let shapes = try requests.map { try shape(of: $0, in: pool, named: poolName, uri: uri) }

        let passphrase = try DesktopKey.passphrase(keyID: key.id, inventory: inventory)
        try inventory.home.prepare()
        let locals = requests.map { _ in inventory.home.runURL.appendingPathComponent("new-\(UUID().uuidString.prefix(8)).qcow2").path }
        var tokens: [LeftoverToken] = []
        defer {
            for local in locals { unlink(local) }
            for token in tokens { try? recorder?.release(token) }
        }
        for local in locals {
            if let token = try recorder?.record(.file(local)) { tokens.append(token) }
        }
        try makeImages(requests, at: locals, shapes: shapes, passphrase: passphrase, failPoints: recorder?.failPoints ?? .none)
        return try upload(requests, from: locals, shapes: shapes, into: pool, named: poolName, uri: uri,
                          key: key, passphrase: passphrase, connection: connection, inventory: inventory)
    }

    /// A new volume's size and backing layer, checked against the pool before anything is made.
    struct Shape {
        var size: UInt64?
        var layer: (path: String, format: String)?
    }

    /// Refuses a name already taken or a backing volume not there; the size defaults to the
    /// backing volume's.
    static func shape(of request: Request, in pool: StoragePool, named poolName: String, uri: String) throws -> Shape {
        if try pool.lookupVolume(name: request.name) != nil {
            throw LCMError(.conflict, "volume \(request.name) already exists in pool \(poolName) at \(uri)")
        }
        var shape = Shape(size: request.virtualSize)
        if let backing = request.backing {
            guard let base = try pool.lookupVolume(name: backing) else {
                throw LCMError.notFound("backing volume \(backing) in pool \(poolName) at \(uri)")
            }
            shape.layer = (try base.path, try VolumeDescription.parse(try base.xmlDescription()).format)
            if shape.size == nil { shape.size = try base.info().capacity }
        }
        guard shape.size != nil || shape.layer != nil else {
            throw LCMError(.usage, "an encrypted volume needs a size or a backing volume")
        }
        return shape
    }

    /// The local encrypted images: the first header made, the others derived from it, then
    /// each one's contents written.
    static func makeImages(_ requests: [Request], at locals: [String], shapes: [Shape], passphrase: DiskPassphrase,
                           failPoints: FailPoints) throws {
        for index in requests.indices {
            if index == 0 {
                try QemuImage.createEncrypted(path: locals[0], virtualSize: shapes[0].size, backing: shapes[0].layer, passphrase: passphrase)
                failPoints.hit(kind: "encrypted-volumes", step: "header-made", moment: .ran)
            } else {
                try QemuImage.deriveEncrypted(from: locals[0], path: locals[index], virtualSize: shapes[index].size,
                                              backing: shapes[index].layer, passphrase: passphrase)
            }
        }
        // After every header is made: the others are copies of the first, which must be empty.
        for (index, request) in requests.enumerated() {
            if let contents = request.contents { try QemuImage.writeContents(of: contents, into: locals[index], passphrase: passphrase) }
        }
    }

    /// Uploads the local images, each keyslot copy registered before its upload, and installs the
    /// key's libvirt secret. All or nothing: a failure deletes what was uploaded.
    static func upload(_ requests: [Request], from locals: [String], shapes: [Shape], into pool: StoragePool, named poolName: String,
                       uri: String, key: DesktopKey, passphrase: DiskPassphrase, connection: Connection,
                       inventory: Inventory) throws -> [EncryptedVolume] {
        var uploaded: [StorageVolume] = []
        var registered: [String: Int64] = [:]
        do {
            for (index, request) in requests.enumerated() {
                registered[request.name] = try inventory.write { db in
                    try KeyCopyRegistry.register(db, keyID: key.id, location: .luksKeyslots, hostURI: uri,
                                                 detail: "\(poolName)/\(request.name)")
                }
                let volume = try importFile(locals[index], as: request.name, into: pool)
                uploaded.append(volume)
                let description = try VolumeDescription.parse(try volume.xmlDescription())
                guard description.format == "qcow2", description.encryptionFormat == "luks",
                      description.backingPath == shapes[index].layer?.path else {
                    throw LCMError(.unavailable, "libvirt does not see \(request.name) as a LUKS qcow2 after the upload")
                }
            }
            let secret = try key.installSecret(on: connection, inventory: inventory, passphrase: passphrase)
            return try requests.indices.map { index in
                EncryptedVolume(uri: uri, pool: poolName, name: requests[index].name, path: try uploaded[index].path, keyID: key.id,
                                secretUUID: secret, virtualSize: try uploaded[index].info().capacity,
                                backingPath: shapes[index].layer?.path)
            }
        } catch {
            // Each registered keyslot copy is accounted for: erased with its volume, or never
            // made on the device when the upload itself failed.
            for (name, copyID) in registered {
                if let volume = try? pool.lookupVolume(name: name) {
                    try? VolumeDeletion.delete(volume, name: name, pool: poolName, why: "its creation failed", inventory: inventory)
                } else {
                    try? inventory.write { db in
                        try KeyCopyRegistry.markDestroyed(db, copyID: copyID, how: "never made on the device: its upload failed")
                    }
                }
            }
            throw error
        }
    }

    /// Copies a local image file into a new volume `name` of `pool` through a stream: a raw volume
    /// of exactly the file's size receives the bytes, the device's copy is hashed back and compared,
    /// and libvirt is made to see the real format (qcow2, encryption, backing file).
    /// `expectedSHA256` (hex), when the file's digest is already known (an image version's), is
    /// what the copy is checked against, so the file is not read once more to hash it.
    @discardableResult
    public static func importFile(_ path: String, as name: String, into pool: StoragePool,
                                  expectedSHA256: String? = nil, progress: ProgressSink? = nil) throws -> StorageVolume {
        let local = try expectedSHA256.map { (bytes: try VolumeTransfer.localSize(path), sha256: $0) }
            ?? { let hashed = try VolumeTransfer.localHash(path); return (hashed.bytes, hashed.sha256.hexString) }()
        let volume = try pool.createVolume(xml: StorageVolumeDefinition(
            name: name, capacityBytes: local.bytes, allocationBytes: 0, format: "raw", mode: "0600").xml)
        do {
            try volume.upload(from: URL(fileURLWithPath: path)) { sent in
                progress?(ProgressUpdate("upload \(name)", done: sent, of: local.bytes, unit: .bytes))
            }
            let remote = try VolumeTransfer.remoteHash(volume)
            guard remote.bytes == local.bytes, remote.sha256.hexString == local.sha256.lowercased() else {
                throw LCMError(.unavailable, "the device's copy of \(name) differs from the uploaded file (SHA-256 mismatch)")
            }
            return try uploadedVolume(name, in: pool, qcow2: isQcow2(path))
        } catch {
            try? volume.delete()
            throw error
        }
    }

    /// The uploaded volume as libvirt sees it once it knows the real format. libvirt refreshes the
    /// pool by itself when an upload ends, and reading a volume's XML re-reads that volume; a
    /// refresh of the whole pool (which re-reads every volume in it: O(volumes) per upload) is only
    /// the fallback when neither shows the format yet.
    static func uploadedVolume(_ name: String, in pool: StoragePool, qcow2: Bool) throws -> StorageVolume {
        for attempt in 0..<3 {
            // Its own refresh briefly empties the pool's volume list: a miss is retried.
            if let volume = try pool.lookupVolume(name: name),
               try !qcow2 || StorageVolumeDefinition(xml: volume.xmlDescription()).format == "qcow2" {
                return volume
            }
            if attempt == 1 { try pool.refresh() } else { Thread.sleep(forTimeInterval: 0.05) }
        }
        throw LCMError(.unavailable, "volume \(name) vanished after upload, or libvirt does not see it as qcow2")
    }

    /// True when the file starts with the qcow2 magic ("QFI\xfb").
    static func isQcow2(_ path: String) throws -> Bool {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        return try handle.read(upToCount: 4) == Data([0x51, 0x46, 0x49, 0xFB])
    }
}
