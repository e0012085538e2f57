import Foundation
import Libvirt

/// Checks that every layer of a disk chain that can hold a desktop's data is LUKS-encrypted.
/// A shared golden base holds no user data and may be plain; everything above it may not.
public enum EncryptionAudit {
    /// One layer as the audit sees it.
    public struct Layer: Codable, Sendable, Equatable {
        public var path: String
        public var format: String
        /// nil when it cannot be told (a remote backing file in no storage pool).
        public var encrypted: Bool?
        public init(path: String, format: String, encrypted: Bool?) {
            self.path = path; self.format = format; self.encrypted = encrypted
        }
    }

    /// The verdict on one chain.
    public struct Report: Codable, Sendable, Equatable {
        public var layers: [Layer]
        /// Indexes of layers treated as shared bases (allowed plain).
        public var sharedBases: [Int]
        /// One sentence per offending layer.
        public var problems: [String]
        public var passed: Bool { problems.isEmpty }
    }

    /// By default a chain's shared base is its bottom layer when the chain has more than one:
    /// a desktop's disk is an overlay on a golden version. A single-layer disk is all data.
    public static func bottomIsSharedBase(_ layer: Layer, position: Int, count: Int) -> Bool {
        count > 1 && position == count - 1
    }

    /// Audits `layers` (top first). A layer may be plain only if `isSharedBase` says so and every
    /// layer below it is plain too (a plain layer cannot sit on top of a desktop's encrypted one).
    public static func check(
        layers: [Layer],
        isSharedBase: (Layer, _ position: Int, _ count: Int) -> Bool = bottomIsSharedBase
    ) -> Report {
        var problems: [String] = []
        var shared: [Int] = []
        var bottomPlainRun = layers.count
        while bottomPlainRun > 0, layers[bottomPlainRun - 1].encrypted == false { bottomPlainRun -= 1 }
        for (position, layer) in layers.enumerated() {
            if layer.encrypted == true { continue }
            if position >= bottomPlainRun && isSharedBase(layer, position, layers.count) {
                shared.append(position)
                continue
            }
            if layer.encrypted == nil {
                problems.append("cannot tell whether \(layer.path) (layer \(position)) is encrypted")
            } else {
                problems.append("\(layer.path) (layer \(position), \(layer.format)) holds desktop data unencrypted")
            }
        }
        return Report(layers: layers, sharedBases: shared, problems: problems)
    }

    /// Audits a local image file's chain as `qemu-img info --backing-chain -U` reports it
    /// (`-U`: works while a domain runs on it).
    public static func check(
        path: String, isSharedBase: (Layer, Int, Int) -> Bool = bottomIsSharedBase
    ) throws -> Report {
        let layers = try QemuImage.info(path: path, forceShare: true).map {
            Layer(path: $0.filename, format: $0.format, encrypted: $0.encrypted)
        }
        return check(layers: layers, isSharedBase: isSharedBase)
    }

    /// Audits a volume on a device through libvirt's volume XML only (local or remote alike),
    /// following backing files through the device's storage pools.
    public static func check(
        volume: StorageVolume, isSharedBase: (Layer, Int, Int) -> Bool = bottomIsSharedBase
    ) throws -> Report {
        try check(layers: layers(of: volume), isSharedBase: isSharedBase)
    }

    /// The chain of a device volume, top first, read from libvirt.
    public static func layers(of volume: StorageVolume) throws -> [Layer] {
        var description = try VolumeDescription.parse(try volume.xmlDescription())
        var layers = [Layer(path: try volume.path, format: description.format,
                            encrypted: description.encryptionFormat != nil)]
        while let path = description.backingPath, layers.count < 16 {
            guard let backing = try volume.connection.lookupStorageVolume(path: path) else {
                layers.append(Layer(path: path, format: description.backingFormat ?? "unknown", encrypted: nil))
                break
            }
            description = try VolumeDescription.parse(try backing.xmlDescription())
            layers.append(Layer(path: path, format: description.format, encrypted: description.encryptionFormat != nil))
        }
        return layers
    }
}
