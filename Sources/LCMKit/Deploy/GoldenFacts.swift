import Foundation
import Guestfs

/// What every fresh overlay of one golden version has in common for personalization: where
/// Windows lives on it, its current control set, its answer file, the time zones asked for.
/// Learned on the first disk of a batch so the others skip the probing: each probe is an appliance
/// round trip, and reading the 60 MiB SOFTWARE hive costs seconds under TCG.
public final class GoldenFacts: @unchecked Sendable {
    /// The SYSTEM hive as the first OS layer held it (the others' is not downloaded again).
    let hives = OfflineHives.KnownHives()

    /// Paths on the mounted Windows volume.
    public struct Layout: Sendable, Equatable {
        /// The Windows partition's number on its disk ("3" for /dev/sdc3; empty for a whole-disk filesystem).
        public var partitionNumber: String
        public var systemRoot: String
        public var systemHive: String
        public var softwareHive: String
        /// `<systemRoot>/Panther`, where a new answer file goes (it may not exist yet).
        public var pantherDirectory: String

        public func partition(on device: String) -> String { device + partitionNumber }

        /// Reads the layout of the Windows volume mounted at `/`.
        static func read(_ g: GuestfsSession, device: String, partition: String, volume: String) throws -> Layout {
            guard let root = try WindowsInspector.systemRoot(g) else {
                throw LCMError(.notFound, "the Windows directory on \(partition) of \(volume) disappeared")
            }
            let config = try g.caseSensitivePath(root + "/System32/config")
            return Layout(partitionNumber: String(partition.dropFirst(device.count)), systemRoot: root,
                          systemHive: try g.caseSensitivePath(config + "/SYSTEM"),
                          softwareHive: try g.caseSensitivePath(config + "/SOFTWARE"),
                          pantherDirectory: try g.caseSensitivePath(root + "/Panther"))
        }
    }

    /// What personalization needs from SYSTEM before writing it.
    struct SystemFacts: Sendable {
        /// `ControlSet00N`, from `Select\Current`.
        var controlSet: String
        /// `Setup\UnattendFile`: an answer file the image names itself (Setup would ignore lcm's).
        var unattendFileOverride: String?

        /// Reads them from the open SYSTEM hive.
        static func read(_ g: GuestfsSession, volume: String) throws -> SystemFacts {
            typealias Paths = DesktopPersonalizer.Paths
            let name = try ControlSets.current(g, volume: volume)
            let override = try g.node(atPath: Paths.setup).flatMap { try g.value($0, "UnattendFile")?.stringValue }
            return SystemFacts(controlSet: name, unattendFileOverride: override.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    private let lock = NSLock()
    private var storedLayout: Layout?
    private var storedSystem: SystemFacts?
    private var storedAnswerFile: String??
    private var storedLeftoverSecrets: [String]?
    private var timeZones: [String: DesktopPersonalizer.TimeZoneRecord] = [:]

    public init() {}

    public internal(set) var layout: Layout? {
        get { lock.withLock { storedLayout } }
        set { lock.withLock { storedLayout = newValue } }
    }

    var system: SystemFacts? {
        get { lock.withLock { storedSystem } }
        set { lock.withLock { storedSystem = newValue } }
    }

    /// The image's own answer file: unknown (nil), none (`.some(nil)`), or its path.
    var existingAnswerFile: String?? {
        get { lock.withLock { storedAnswerFile } }
        set { lock.withLock { storedAnswerFile = newValue } }
    }

    /// Kinds of secret in the answer files the image itself carries (`WindowsInspector.answerFiles`), once read.
    var leftoverAnswerFileSecrets: [String]? {
        get { lock.withLock { storedLeftoverSecrets } }
        set { lock.withLock { storedLeftoverSecrets = newValue } }
    }

    /// A time zone already checked against this image (with its ImageState matching `generalized`).
    func timeZone(_ id: String, generalized: Bool) -> DesktopPersonalizer.TimeZoneRecord? {
        lock.withLock { timeZones["\(generalized)|\(id)"] }
    }

    func remember(_ zone: DesktopPersonalizer.TimeZoneRecord, for id: String, generalized: Bool) {
        lock.withLock { timeZones["\(generalized)|\(id)"] = zone }
    }
}
