import Foundation
import GRDB
import Libvirt

/// The last part of a deployment: the domain defined on the device (and started unless
/// --no-start), then the records. Every step is safe to repeat, so it needs no journal: the
/// desktop's UUID is stored before the domain is defined, a rerun redefines the same domain, and
/// `DesktopRemoval` finds the domain by name whatever state a killed run left it in.
enum DeployFinish {
    struct Result { var uuid: String; var running: Bool }

    static func run(desktopID: Int64, name: String, settings: DesktopSettings, inventory: Inventory,
                    connections: ConnectionFactory) throws -> Result {
        // Nothing is defined, let alone started, on layers that were not personalized.
        guard try inventory.read({ db in try DeployRecords.layersArePersonalized(db, desktopID: desktopID) }) else {
            throw DeployRecords.layersMadeAgain(name)
        }
        let connection = try connections.connect(settings.uri)
        let desktop = try inventory.read { db in try DesktopStore.find(db, id: desktopID) }
        let keyID = desktop?.keyID
        var uuid = desktop?.domainUUID ?? ""
        if uuid.isEmpty {
            uuid = UUID().uuidString.lowercased()
            try inventory.write { db in try DesktopStore.setDomainUUID(db, id: desktopID, uuid) }
        }
        var luksSecret: String?, tpmSecret: String?
        if let keyID {
            guard let key = try DesktopKey.find(id: keyID, inventory: inventory) else { throw LCMError.notFound("desktop key \(keyID)") }
            let passphrase = try DesktopKey.passphrase(keyID: keyID, inventory: inventory)
            luksSecret = try key.installSecret(on: connection, inventory: inventory, passphrase: passphrase)
            tpmSecret = try key.installTPMSecret(on: connection, inventory: inventory, passphrase: passphrase)
        }
        let paths = try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT role, path FROM volume WHERE desktopID = ?", arguments: [desktopID])
        }
        func path(_ role: String) throws -> String {
            guard let found = paths.first(where: { $0["role"] as String == role })?["path"] as String? else {
                throw LCMError(.failure, "desktop \(name) has no \(role) volume recorded", hint: "deploy it again: the rerun recreates its volumes")
            }
            return found
        }
        // Without a virtio storage driver Windows sees neither disk on virtio: both go on SATA.
        let bus = settings.storageBus
        let disks = [
            DesktopDomain.Disk(path: try path("os"), bus: bus, luksSecretUUID: luksSecret, discard: settings.discard),
            DesktopDomain.Disk(path: try path("data"), bus: bus, luksSecretUUID: luksSecret, discard: settings.discard),
        ]
        let definition = DesktopDomain(
            name: name, uuid: uuid, title: "lcm desktop \(name)",
            description: "user \(settings.user ?? "-"), image \(settings.imageReference), device \(settings.deviceTag)",
            vcpus: settings.vcpus, memoryMiB: Int(settings.memoryBytes >> 20), domainType: settings.domainType, disks: disks,
            network: DesktopDomain.Network(source: .network(settings.network), model: settings.networkModel),
            tpm: DesktopDomain.TPM(encryptionSecretUUID: tpmSecret), secureBoot: settings.usesSecureBoot)
        let xml = try definition.xml()
        if let existing = try connection.lookupDomain(name: name), try existing.uuidString.lowercased() != uuid {
            throw LCMError(.conflict, "a domain named \(name) already exists on \(settings.uri) and is not this desktop's",
                           hint: "choose another desktop name, or remove that domain first")
        }
        let domain = try connection.defineDomain(xml: xml)
        var running = try domain.isActive
        if !running { try recordDeployedAllocation(desktopID: desktopID, name: name, settings: settings, connection: connection, inventory: inventory) }
        if settings.start && !running {
            try domain.start()
            running = try waitRunning(domain)
            guard running else {
                throw LCMError(.unavailable, "desktop \(name) was started but is not running (state: \(DesktopStatusReader.name(try domain.state())))",
                               hint: "see the domain's log on the device: /var/log/libvirt/qemu/\(name).log")
            }
        }
        try inventory.write { db in
            // Complete only with the layers personalization wrote into, checked in the transaction
            // that says so.
            guard try DeployRecords.layersArePersonalized(db, desktopID: desktopID) else { throw DeployRecords.layersMadeAgain(name) }
            try DeployRecords.setStage(db, desktopID: desktopID, .complete)
            let status: DesktopStatus = running ? .deployed : .stopped
            try DesktopStore.setStatus(db, id: desktopID, status)
            let device = try DeviceLifecycle.find(db, settings.deviceTag)
            if device.status == .inStock {
                _ = try DeviceLifecycle.move(db, device, to: .deployed, note: "desktop \(name) deployed", actor: inventory.actor)
            }
            try AuditLog.record(db, actor: inventory.actor, objectKind: "desktop", objectID: name, action: "deployed",
                                details: ["domain": uuid, "running": "\(running)", "bus": settings.storageBus.rawValue,
                                          "encrypted": "\(settings.encrypted)", "secure_boot": "\(settings.usesSecureBoot)",
                                          "computer_name": settings.computerName])
        }
        return Result(uuid: uuid, running: running)
    }

    /// What the user-data disk holds before its user ever sees it: `DesktopRemoval` compares it
    /// with the allocation at removal time to tell whether someone wrote data since.
    static func recordDeployedAllocation(desktopID: Int64, name: String, settings: DesktopSettings, connection: Connection, inventory: Inventory) throws {
        guard let volume = try DesktopVolumes.dataVolume(of: name, settings: settings, on: connection) else { return }
        let allocation = try volume.info().allocation
        try inventory.write { db in
            try db.execute(sql: "UPDATE volume SET deployedAllocation = ? WHERE desktopID = ? AND role = 'data'",
                           arguments: [Int64(allocation), desktopID])
        }
    }

    /// A started domain is confirmed running when libvirt still reports it running a moment later
    /// (a guest whose qemu dies at once is reported running for a few milliseconds).
    static func waitRunning(_ domain: Domain) throws -> Bool {
        for _ in 0..<20 {
            if case .running = try domain.state() {
                Thread.sleep(forTimeInterval: 0.5)
                if case .running = try domain.state() { return true }
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        return false
    }
}
