import Foundation
import GRDB
import Libvirt

/// What a batch needs from each device's host, checked before anything is made there: the storage
/// pool (present, running, with room for the golden upload and every new desktop's first writes)
/// and, for desktops that will be started, their network defined and running. A failed check fails
/// the desktops of that host only.
enum DeployHostCheck {
    /// Room each new desktop takes in the pool before it first boots: two LUKS headers, the
    /// personalization's writes, and the user-data disk's fresh NTFS (its 64 MiB $LogFile is
    /// written in full). Growth after first boot is thin provisioning's bet, reported as a note.
    static let reservePerDesktop: UInt64 = 256 << 20

    struct Demand {
        var desktops = 0
        /// Golden volumes this batch may have to upload (volume name -> bytes of the stored file).
        var goldenUploads: [String: UInt64] = [:]
        /// The sum of the new disks' virtual sizes: what the pool needs once every disk is full.
        var virtualBytes: UInt64 = 0
        var networks = Set<String>()
        /// libvirt domain types ("kvm", "qemu") of the desktops that boot with Secure Boot.
        var secureBootTypes = Set<String>()
    }

    /// Each host's problem, if any, keyed by "uri#pool"; and notes for hosts that pass but are
    /// overcommitted (thin disks that together can outgrow the pool).
    /// `needsVolumes`: the desktop's volumes are still to be made (a resumed desktop may have them).
    static func check(_ desktops: [(settings: DesktopSettings, needsVolumes: Bool)], inventory: Inventory,
                      connections: ConnectionFactory) -> (problems: [String: LCMError], notes: [String: String]) {
        var demands: [String: (uri: String, pool: String, demand: Demand)] = [:]
        for (item, needsVolumes) in desktops {
            let key = hostKey(item)
            var entry = demands[key] ?? (item.uri, item.pool, Demand())
            if needsVolumes {
                entry.demand.desktops += 1
                entry.demand.virtualBytes += item.osDiskBytes + item.dataDiskBytes
                entry.demand.goldenUploads[HostImages.volumeName(reference: item.imageReference, sha256: item.imageSHA256)] = fileSize(item.imagePath)
            }
            if item.start { entry.demand.networks.insert(item.network) }
            if item.usesSecureBoot { entry.demand.secureBootTypes.insert(item.domainType.rawValue) }
            demands[key] = entry
        }
        var problems: [String: LCMError] = [:], notes: [String: String] = [:]
        for (key, entry) in demands {
            do {
                let connection = try connections.connect(entry.uri)
                let pool = try DeviceStoragePool.open(named: entry.pool, on: connection)
                let info = try pool.info()
                let uploads = try entry.demand.goldenUploads.filter { volume, _ in
                    try !isOnHost(volume: volume, uri: entry.uri, pool: entry.pool, inventory: inventory)
                }.values.reduce(0, +)
                let needed = uploads + UInt64(entry.demand.desktops) * reservePerDesktop
                if info.available < needed {
                    throw LCMError(.cannotWrite,
                                   "storage pool '\(entry.pool)' on \(entry.uri) has \(ByteSize.format(info.available)) free; \(entry.demand.desktops) new desktop(s) need \(ByteSize.format(needed)) (golden upload \(ByteSize.format(uploads)) + \(ByteSize.format(reservePerDesktop)) per desktop for its volumes)",
                                   hint: "free space in the pool, deploy fewer desktops to this device, or choose another pool with --pool")
                }
                if info.available < uploads + entry.demand.virtualBytes {
                    notes[key] = "pool '\(entry.pool)' on \(entry.uri) is overcommitted: the new disks may grow to \(ByteSize.format(entry.demand.virtualBytes)), \(ByteSize.format(info.available)) is free"
                }
                for domainType in entry.demand.secureBootTypes.sorted() {
                    try checkSecureBoot(on: connection, uri: entry.uri, domainType: domainType)
                }
                for network in entry.demand.networks.sorted() {
                    guard let found = try connection.lookupNetwork(name: network) else {
                        throw LCMError.notFound("network '\(network)' on \(entry.uri)",
                                                hint: "name an existing one with --network, or deploy with --no-start")
                    }
                    if try !found.isActive {
                        throw LCMError(.conflict, "network '\(network)' on \(entry.uri) is not running: the desktops could not start",
                                       hint: "start it (virsh -c \(entry.uri) net-start \(network)), name another with --network, or deploy with --no-start")
                    }
                }
            } catch let error as LCMError {
                problems[key] = error
            } catch {
                problems[key] = LCMError(.unavailable, "cannot check \(entry.uri): \(error)")
            }
        }
        return (problems, notes)
    }

    /// Refuses a device whose firmware cannot boot the desktops with Secure Boot, rather than
    /// define them without it: libvirt 9.0 would only fail at their first start.
    static func checkSecureBoot(on connection: Connection, uri: String, domainType: String) throws {
        let capabilities = try connection.domainCapabilitiesXML(arch: "x86_64", machine: "q35", virtType: domainType)
        if !DeviceCheck.offersSecureBoot(domainCapabilities: capabilities) {
            throw secureBootUnavailable(uri: uri)
        }
    }

    static func secureBootUnavailable(uri: String) -> LCMError {
        LCMError(.conflict, "the device at \(uri) offers no UEFI firmware with Secure Boot for q35 domains: desktops would boot without it",
                 hint: "install a Secure Boot firmware with Microsoft's keys on the device (Debian: ovmf), or deploy with --no-secure-boot (recorded)")
    }

    static func hostKey(_ settings: DesktopSettings) -> String { "\(settings.uri)#\(settings.pool)" }

    /// Whether `HostImages.ensure` will find the golden volume already uploaded (same row it reads).
    static func isOnHost(volume: String, uri: String, pool: String, inventory: Inventory) throws -> Bool {
        try inventory.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM hostImage WHERE uri = ? AND pool = ? AND volume = ?)",
                              arguments: [uri, pool, volume]) ?? false
        }
    }

    static func fileSize(_ path: String) -> UInt64 {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
    }
}
