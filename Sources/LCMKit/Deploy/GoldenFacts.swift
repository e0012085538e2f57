import Foundation
import GRDB
import Guestfs

/// What every fresh overlay of one golden version has in common for offline work: the catalog's
/// inspection record of the version (where Windows lives, its ImageState, its answer files),
/// and what the first disk of a batch taught (hive paths, current control set, the image's own
/// answer file, the time zones asked for), so the others skip the probing: each probe is an
/// appliance round trip, and reading the 60 MiB SOFTWARE hive costs seconds under TCG.
public final class GoldenFacts: @unchecked Sendable {
    /// What `lcm image inspect` recorded for the version; nil: none known, learned from the disk.
    public let inspection: WindowsInspection?
    /// The hive files as the first OS layer held them (the others' are not downloaded again).
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

        /// Reads the layout of the Windows volume mounted at `/`; a `systemRoot` the catalog
        /// recorded is taken when it is there with both hives, else the volume is searched.
        static func read(_ g: GuestfsSession, device: String, partition: String, volume: String,
                         systemRoot recorded: String? = nil) throws -> Layout {
            func hasHives(_ root: String) -> Bool {
                ["SYSTEM", "SOFTWARE"].allSatisfy { hive in
                    (try? g.caseSensitivePath(root + "/System32/config/" + hive)).map { (try? g.isFile($0)) == true } ?? false
                }
            }
            guard let root = try recorded.flatMap({ hasHives($0) ? $0 : nil }) ?? WindowsInspector.systemRoot(g) else {
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
    private var storedImageState: String??
    private var timeZones: [String: DesktopPersonalizer.TimeZoneRecord?] = [:]

    public init(inspection: WindowsInspection? = nil) {
        self.inspection = inspection
        if let inspection {
            storedImageState = .some(inspection.generalization.imageState)
            storedLeftoverSecrets = inspection.answerFiles.flatMap(\.secrets)
        }
    }

    /// The catalog's inspection records of image versions, by version ID. A record lcm cannot
    /// decode (written before a field it now requires) is left out: that image is learned from its disk.
    static func recorded(_ db: Database, imageVersionIDs: Set<Int64>) throws -> [Int64: WindowsInspection] {
        var records: [Int64: WindowsInspection] = [:]
        for id in imageVersionIDs {
            guard let text = try ImageVersion.fetchOne(db, key: id)?.inspection,
                  let record = try? JSONDecoder().decode(WindowsInspection.self, from: Data(text.utf8)) else { continue }
            records[id] = record
        }
        return records
    }

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

    /// Kinds of secret in the answer files the image itself carries (`WindowsInspector.answerFiles`), once known.
    var leftoverAnswerFileSecrets: [String]? {
        get { lock.withLock { storedLeftoverSecrets } }
        set { lock.withLock { storedLeftoverSecrets = newValue } }
    }

    /// `Setup\State` `ImageState`: unknown (nil), absent (`.some(nil)`), or its value.
    var imageState: String?? {
        get { lock.withLock { storedImageState } }
        set { lock.withLock { storedImageState = newValue } }
    }

    /// A time zone already looked up in this image: unknown (nil), not in its list (`.some(nil)`), or its record.
    func timeZone(_ id: String) -> DesktopPersonalizer.TimeZoneRecord?? {
        lock.withLock { timeZones[id] }
    }

    func remember(_ zone: DesktopPersonalizer.TimeZoneRecord?, for id: String) {
        lock.withLock { timeZones[id] = .some(zone) }
    }
}
