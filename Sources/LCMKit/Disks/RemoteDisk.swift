import Crypto
import Foundation
import Libvirt

/// What a libvirt volume XML says about a volume's format, encryption and immediate backing file.
struct VolumeDescription: Equatable {
    var format: String
    var encryptionFormat: String?
    var backingPath: String?
    var backingFormat: String?

    /// Reads libvirt's volume XML (`virStorageVolGetXMLDesc`); a volume without a format is raw.
    static func parse(_ xml: String) throws -> VolumeDescription {
        let volume = try StorageVolumeDefinition(xml: xml, what: "the volume's XML")
        return VolumeDescription(format: volume.formatOrRaw, encryptionFormat: volume.encryption?.format,
                                 backingPath: volume.backing?.path, backingFormat: volume.backing?.format)
    }
}

/// Transfers between a device's volume and a local file, with SHA-256 on the way.
enum VolumeTransfer {
    /// Downloads the whole volume into `path` (0600), hashing as it goes.
    static func download(_ volume: StorageVolume, to path: String) throws -> (bytes: UInt64, sha256: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw LCMError(.cannotWrite, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var hasher = SHA256()
        let bytes = try volume.download { chunk in
            hasher.update(bufferPointer: chunk)
            var written = 0
            while written < chunk.count {
                let rc = write(fd, chunk.baseAddress! + written, chunk.count - written)
                if rc < 0 {
                    if errno == EINTR { continue }
                    throw LCMError(.cannotWrite, "cannot write \(path): \(String(cString: strerror(errno)))",
                                   hint: "free space in lcm's home")
                }
                written += rc
            }
        }
        guard fsync(fd) == 0 else { throw LCMError(.cannotWrite, "cannot flush \(path)") }
        return (bytes, Array(hasher.finalize()))
    }

    /// The SHA-256 of the volume's bytes as the device holds them (first `length` bytes, or all).
    static func remoteHash(_ volume: StorageVolume, length: UInt64 = 0) throws -> (bytes: UInt64, sha256: [UInt8]) {
        var hasher = SHA256()
        let bytes = try volume.download(length: length) { hasher.update(bufferPointer: $0) }
        return (bytes, Array(hasher.finalize()))
    }

    /// A local file's length.
    static func localSize(_ path: String) throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw LCMError(.notFound, "cannot read \(path): \(String(cString: strerror(errno)))") }
        return UInt64(info.st_size)
    }

    /// The SHA-256 of a local file.
    static func localHash(_ path: String) throws -> (bytes: UInt64, sha256: [UInt8]) {
        let result = try FileDigest.sha256Bytes(path: path)
        return (result.bytes, result.digest)
    }

    /// Names of running domains on `connection` whose definition mentions `path`.
    static func activeDomains(on connection: Connection, using path: String) throws -> [String] {
        try connection.listAllDomains().compactMap { domain in
            guard (try? domain.isActive) == true, let xml = try? domain.xmlDescription(),
                  let definition = try? DomainDefinition(xml: xml, what: "the domain's XML") else { return nil }
            return definition.devices.disks.contains { $0.layerFiles.contains(path) } ? (try? domain.name) : nil
        }
    }
}
