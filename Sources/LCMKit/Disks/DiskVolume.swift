import Foundation
import Guestfs

/// A disk the engine can open: a local image file, or a volume in a libvirt storage pool on a
/// device, always named by (URI, pool, volume) and never by a path on the device.
public struct DiskVolume: Codable, Sendable, Hashable {
    /// Where the disk is.
    public enum Location: Codable, Sendable, Hashable {
        /// An image file on lcm's machine (the image store, a test's scratch directory).
        case file(path: String)
        /// A volume in a pool of a device's libvirtd. A local URI (`qemu:///system`) is opened in
        /// place; a URI naming a host is downloaded, worked on, and uploaded through streams.
        case libvirt(uri: String, pool: String, volume: String)
    }

    /// The caller's name for the disk in reports (a desktop name, a volume name).
    public var name: String
    public var location: Location
    /// The desktop key its LUKS layers are encrypted with; nil for a plain chain.
    public var keyID: String?
    /// Local copies of backing files of a remote volume, by their path on the device, so a remote
    /// overlay on a golden base the admin's image store already holds downloads only the overlay.
    public var backingCopies: [String: String]
    /// For a file lcm did not make: the format lcm read from its header (`SourceImageFormat`).
    /// The engine then opens exactly that file with that format, probes nothing and follows no
    /// backing file; nil for lcm's own files, whose chains it trusts.
    public var outsideFormat: String?

    public init(name: String, location: Location, keyID: String? = nil, backingCopies: [String: String] = [:],
                outsideFormat: String? = nil) {
        self.name = name; self.location = location; self.keyID = keyID; self.backingCopies = backingCopies
        self.outsideFormat = outsideFormat
    }

    /// A local image file.
    public static func file(_ path: String, name: String? = nil, keyID: String? = nil) -> DiskVolume {
        DiskVolume(name: name ?? URL(fileURLWithPath: path).lastPathComponent, location: .file(path: path), keyID: keyID)
    }

    /// An image file from outside, opened and checked by `SourceImage.open`; read-only work only.
    static func outside(_ source: SourceImage, name: String) -> DiskVolume {
        DiskVolume(name: name, location: .file(path: source.file.toolPath), outsideFormat: source.format)
    }

    /// A volume in a device's pool.
    public static func libvirt(uri: String, pool: String = DeviceStoragePool.name, volume: String,
                               keyID: String? = nil, backingCopies: [String: String] = [:]) -> DiskVolume {
        DiskVolume(name: volume, location: .libvirt(uri: uri, pool: pool, volume: volume), keyID: keyID,
                   backingCopies: backingCopies)
    }

    /// The identity lcm locks while it has the disk open.
    var lockID: String {
        switch location {
        case .file(let path): return "file:\(URL(fileURLWithPath: path).standardizedFileURL.path)"
        case .libvirt(let uri, let pool, let volume): return "\(uri)#\(pool)/\(volume)"
        }
    }

    var isRemote: Bool {
        if case .libvirt(let uri, _, _) = location { return !DiskHost.isLocal(uri: uri) }
        return false
    }
}

/// Why a disk of a batch failed, and at which stage.
public struct DiskFailure: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Stage: String, Codable, Sendable {
        /// Before any launch: lookup, download, qemu-img info/check, key, qemu-nbd.
        case validate
        /// The appliance would not launch with this disk (found by bisection).
        case launch
        /// The caller's work on the disk threw.
        case work
        /// Flushing, stopping qemu-nbd, or uploading a remote disk back.
        case writeBack = "write-back"
    }
    /// What was wrong with the disk.
    public enum Reason: String, Codable, Sendable {
        case missing, corrupt, locked, undecryptable, unsupported, busy
        case launchFailed = "launch-failed"
        case workFailed = "work-failed"
        case transferFailed = "transfer-failed"
        case toolFailed = "tool-failed"
    }
    public var stage: Stage
    public var reason: Reason
    public var message: String
    /// The exit code and hint of an `LCMError` the caller's work threw, so they reach the admin.
    public var exitCode: LCMExitCode?
    public var hint: String?

    public init(stage: Stage, reason: Reason, message: String, exitCode: LCMExitCode? = nil, hint: String? = nil) {
        self.stage = stage; self.reason = reason; self.message = message; self.exitCode = exitCode; self.hint = hint
    }

    /// The failure as an `LCMError` (`fallback` when the work did not throw one).
    public func error(prefix: String = "", fallback: LCMExitCode = .dataError) -> LCMError {
        LCMError(exitCode ?? fallback, prefix + message, hint: hint)
    }

    public var description: String { "\(stage.rawValue) \(reason.rawValue): \(message)" }

    init(_ error: ImageError, stage: Stage = .validate) {
        let reason: Reason
        switch error.problem {
        case .missing: reason = .missing
        case .corrupt: reason = .corrupt
        case .locked: reason = .locked
        case .undecryptable: reason = .undecryptable
        case .unsupported: reason = .unsupported
        case .toolFailed: reason = .toolFailed
        }
        self.init(stage: stage, reason: reason, message: error.message)
    }
}
