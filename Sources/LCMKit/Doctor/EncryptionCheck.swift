import Foundation
import GRDB
import Libvirt

extension Doctor {
    /// `lcm doctor`'s disk encryption check: every desktop volume the inventory knows must be
    /// LUKS-encrypted in every layer that can hold its data (a shared golden base may be plain),
    /// as the volume's device reports it through libvirt; every live desktop key must still have
    /// its escrow; no temporary key file may lie in `$LCM_HOME/run`.
    ///
    /// Reads the inventory read-only and changes nothing. `connect` opens a device by URI (the
    /// context's connections when nil).
    public func encryptionCheck(connect: ((String) throws -> Connection)? = nil) -> DoctorCheck {
        let started = Date()
        var check = EncryptionCheck(home: settings.home, defaultURI: settings.connectURI).run(connect: connect ?? context.connect)
        check.seconds = Date().timeIntervalSince(started)
        return check
    }
}

/// The work behind `Doctor.encryptionCheck`.
struct EncryptionCheck {
    let home: LCMHome
    let defaultURI: String

    struct DesktopVolume {
        var desktop: String
        var uri: String
        var pool: String
        var name: String
    }

    func run(connect: (String) throws -> Connection) -> DoctorCheck {
        let name = "disk encryption"
        let leftoverKeys = ((try? FileManager.default.contentsOfDirectory(atPath: home.runURL.path)) ?? [])
            .filter { $0.hasPrefix("key-") && $0.hasSuffix(".secret") }
        guard FileManager.default.fileExists(atPath: home.databaseURL.path) else {
            return DoctorCheck(name: name, required: false, status: .pass, detail: "no inventory yet: no desktop disks to check")
        }
        let volumes: [DesktopVolume]
        let keysWithoutEscrow: [String]
        do {
            (volumes, keysWithoutEscrow) = try readInventory()
        } catch {
            return DoctorCheck(name: name, required: true, status: .fail, detail: "cannot read the inventory: \(error)",
                               fix: "see the inventory check")
        }

        var (problems, unreachable) = checkLayers(of: volumes, connect: connect)
        for key in keysWithoutEscrow { problems.append("disk key \(key) has no escrowed copy: its disks cannot be recovered") }
        for file in leftoverKeys { problems.append("temporary key file \(home.runURL.path)/\(file) was left behind") }

        if !problems.isEmpty {
            return DoctorCheck(name: name, required: true, status: .fail,
                               detail: problems.joined(separator: "; "),
                               fix: "re-create the named volumes as encrypted overlays (desktop data must never be stored plain); run `lcm recover` to remove leftover key files")
        }
        if !unreachable.isEmpty {
            return DoctorCheck(name: name, required: true, status: .warn,
                               detail: "\(volumes.count - unreachable.count) of \(volumes.count) desktop volume(s) checked; not reachable: \(unreachable.joined(separator: "; "))",
                               fix: "check the devices' libvirtd and rerun doctor")
        }
        return DoctorCheck(name: name, required: true, status: .pass,
                           detail: volumes.isEmpty ? "no desktop volumes yet"
                               : "\(volumes.count) desktop volume(s): every data layer is LUKS-encrypted")
    }

    /// The desktops' volumes and the live keys without an escrowed copy, read without writing.
    func readInventory() throws -> (volumes: [DesktopVolume], keysWithoutEscrow: [String]) {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(Inventory.busyTimeout)
        let queue = try DatabaseQueue(path: home.databaseURL.path, configuration: configuration)
        return try queue.read { db in
            guard try db.tableExists("desktopKey") else { return ([], []) }
            let rows = try DesktopReports.encryptableVolumeRows(db)
            let volumes = rows.map {
                DesktopVolume(desktop: $0["desktop"], uri: ($0["uri"] as String?) ?? defaultURI,
                              pool: $0["pool"], name: $0["name"])
            }
            let orphans = try String.fetchAll(db, sql: """
                SELECT k.id FROM desktopKey k LEFT JOIN keyEscrow e ON e.keyID = k.id
                WHERE k.destroyedAt IS NULL AND e.keyID IS NULL
                """)
            return (volumes, orphans)
        }
    }

    /// Each volume's layers as its device reports them: the problems found, and the volumes whose
    /// device could not be asked.
    func checkLayers(of volumes: [DesktopVolume],
                     connect: (String) throws -> Connection) -> (problems: [String], unreachable: [String]) {
        var problems: [String] = []
        var unreachable: [String] = []
        var connections: [String: Connection] = [:]
        // A layer owned by a desktop is data; any other plain layer at the bottom is a shared base.
        let desktopVolumeKeys = Set(volumes.map { "\($0.uri)#\($0.pool)/\($0.name)" })
        for volume in volumes {
            do {
                let connection = try connections[volume.uri] ?? connect(volume.uri)
                connections[volume.uri] = connection
                guard let pool = try connection.lookupStoragePool(name: volume.pool),
                      let handle = try pool.lookupVolume(name: volume.name) else {
                    problems.append("\(volume.desktop): volume \(volume.pool)/\(volume.name) not found on \(volume.uri)")
                    continue
                }
                let layers = try EncryptionAudit.layers(of: handle)
                var owned = Set<String>()
                for layer in layers {
                    if let backing = try connection.lookupStorageVolume(path: layer.path),
                       let poolName = try? backing.pool().name,
                       desktopVolumeKeys.contains("\(volume.uri)#\(poolName)/\(try backing.name)") {
                        owned.insert(layer.path)
                    }
                }
                let report = EncryptionAudit.check(layers: layers) { layer, position, _ in
                    position > 0 && !owned.contains(layer.path)
                }
                problems += report.problems.map { "\(volume.desktop): \($0)" }
            } catch {
                unreachable.append("\(volume.desktop) (\(volume.uri)): \(error)")
            }
        }
        return (problems, unreachable)
    }
}
