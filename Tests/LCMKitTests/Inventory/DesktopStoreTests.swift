import Foundation
import GRDB
@testable import LCMKit
import LCMTestSupport
import Testing

/// The desktop record and its store against a real inventory file: every column typed both
/// ways, settings stored by older lcm versions, unreadable settings, and the migration order.
@Suite struct DesktopStoreTests {
    /// A scratch inventory with one device, user and image version for desktops to point at.
    struct World {
        let scratch = ScratchDirectory(prefix: "lcm-desktop-store")
        let inventory: Inventory
        let device: Device, user: User, versionID: Int64

        init() throws {
            inventory = try Inventory.open(home: LCMHome(url: scratch.url.appendingPathComponent("home")),
                                           actor: AuditActor(osUser: "tester", pid: 1, command: "lcm (test)"))
            (device, user, versionID) = try inventory.write { db in
                var device = Device(assetTag: "DEV-1", serial: "SN-1", libvirtURI: "qemu:///system")
                try device.insert(db)
                var user = User(username: "anna")
                try user.insert(db)
                var image = Image(name: "gold")
                try image.insert(db)
                var version = ImageVersion(imageID: image.id!, version: "1", path: "/var/lib/lcm/images/gold-1.qcow2")
                try version.insert(db)
                return (device, user, version.id!)
            }
        }

        func settings() -> DesktopSettings {
            DesktopSettings(
                imageReference: "gold:1", imageVersionID: versionID, imagePath: "/var/lib/lcm/images/gold-1.qcow2",
                imageSHA256: String(repeating: "ab", count: 32), uri: "qemu:///system", deviceTag: "DEV-1", user: "anna",
                vcpus: 3, memoryBytes: 6 << 30, osDiskBytes: 40 << 30, dataDiskBytes: 20 << 30, encrypted: true,
                allowUngeneralized: false, generalized: true, storageBus: .sata, networkModel: .e1000e, network: "lan",
                computerName: "PC-ANNA", owner: "Anna", organization: "Example", timeZone: "W. Europe Standard Time",
                licensePool: "win11", migrateArchive: "/srv/anna.tar", architecture: "x86_64", discard: true,
                joinBlobBytes: 512, start: false, domainType: .qemu, storagePool: "fast", secureBoot: true)
        }
    }

    /// Whole seconds: the inventory keeps dates to the millisecond.
    static let when = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func everyColumnRoundTripsTyped() throws {
        let world = try World()
        var desktop = Desktop(name: "desk-anna", deviceID: world.device.id, userID: world.user.id, imageVersionID: world.versionID,
                              status: .stopped, stage: .personalized, settings: world.settings(), now: Self.when)
        desktop.domainUUID = "0f8a5c2e-1c1b-4f59-9a51-6f3d2d0c9e11"
        desktop.keyID = "key-1"
        desktop.failure = "the device went away"
        desktop.personalizedGeneration = "gen-1"
        desktop.updatedAt = Self.when.addingTimeInterval(60)
        try world.inventory.write { db in try DesktopStore.insert(db, &desktop) }
        let id = try #require(desktop.id)

        let (byName, byID) = try world.inventory.read { db in
            (try DesktopStore.find(db, name: "desk-anna"), try DesktopStore.find(db, id: id))
        }
        #expect(byName == desktop)
        #expect(byID == desktop)
        // The enums are stored as the strings earlier lcm versions wrote and read.
        let raw = try #require(try world.inventory.read { db in
            try Row.fetchOne(db, sql: "SELECT status, stage, settings FROM desktop WHERE id = ?", arguments: [id])
        })
        #expect(raw["status"] as String == "stopped" && raw["stage"] as String == "personalized")
        let json = raw["settings"] as String
        for pair in ["\"storageBus\":\"sata\"", "\"networkModel\":\"e1000e\"", "\"domainType\":\"qemu\"", "\"storagePool\":\"fast\""] {
            #expect(json.contains(pair), "\(json)")
        }
        #expect(try world.inventory.read { db in try DesktopStore.find(db, name: "nobody") } == nil)
    }

    @Test func narrowUpdatesChangeOnlyTheirColumns() throws {
        let world = try World()
        var desktop = Desktop(name: "desk-1", deviceID: world.device.id, imageVersionID: world.versionID, now: Self.when)
        var other = Desktop(name: "desk-2", deviceID: world.device.id, imageVersionID: world.versionID, status: .retired, now: Self.when)
        try world.inventory.write { db in
            try DesktopStore.insert(db, &desktop)
            try DesktopStore.insert(db, &other)
        }
        let id = try #require(desktop.id)
        let later = Self.when.addingTimeInterval(3600)
        let settings = world.settings()
        let read = { try world.inventory.read { db in try #require(try DesktopStore.find(db, id: id)) } }

        try world.inventory.write { db in try DesktopStore.setDeployment(db, id: id, stage: .recorded, settings: settings) }
        var expected = desktop
        expected.stage = .recorded
        expected.settings = settings
        #expect(try read() == expected)

        try world.inventory.write { db in try DesktopStore.setFailure(db, id: id, "no pool", now: later) }
        expected.failure = "no pool"; expected.updatedAt = later
        #expect(try read() == expected)

        // A completed stage clears the failure.
        try world.inventory.write { db in try DesktopStore.setStage(db, id: id, .prepared, now: later) }
        expected.stage = .prepared; expected.failure = nil
        #expect(try read() == expected)

        try world.inventory.write { db in
            try DesktopStore.setKey(db, id: id, keyID: "key-9")
            try DesktopStore.setDomainUUID(db, id: id, "uuid-9")
            try DesktopStore.setPersonalizedGeneration(db, id: id, "gen-9")
            try DesktopStore.setUser(db, id: id, userID: world.user.id, now: later)
            try DesktopStore.setStatus(db, id: id, .deployed, now: later)
        }
        expected.keyID = "key-9"; expected.domainUUID = "uuid-9"; expected.personalizedGeneration = "gen-9"
        expected.userID = world.user.id; expected.status = .deployed
        #expect(try read() == expected)
        #expect(try world.inventory.read { db in try DesktopStore.keyID(db, id: id) } == "key-9")
        #expect(try world.inventory.read { db in try DesktopStore.personalizedGeneration(db, id: id) } == "gen-9")

        try world.inventory.write { db in
            try DesktopStore.clearKey(db, keyID: "key-9")
            try DesktopStore.setPersonalizedGeneration(db, id: id, nil)
            try DesktopStore.setUser(db, id: id, userID: nil, now: later)
        }
        expected.keyID = nil; expected.personalizedGeneration = nil; expected.userID = nil
        #expect(try read() == expected)

        // Reads by name, status and device; the retired desktop is history, not live.
        try world.inventory.read { (db: Database) throws -> Void in
            #expect(try DesktopStore.name(db, id: id) == "desk-1")
            #expect(try DesktopStore.status(db, id: id) == .deployed)
            #expect(try DesktopStore.status(db, name: "desk-2") == .retired)
            #expect(try DesktopStore.existingNames(db, among: ["desk-1", "desk-9"]) == ["desk-1"])
            #expect(try DesktopStore.liveNames(db, imageVersionID: world.versionID) == ["desk-1"])
            #expect(try DesktopStore.names(db, deviceID: world.device.id!, excluding: []) == ["desk-1", "desk-2"])
            #expect(try DesktopStore.names(db, deviceID: world.device.id!, excluding: [.retired, .disposed]) == ["desk-1"])
        }
        try world.inventory.write { db in try DesktopStore.delete(db, id: id) }
        #expect(try world.inventory.read { db in try DesktopStore.find(db, id: id) } == nil)
        #expect(try world.inventory.read { db in try DesktopStore.find(db, name: "desk-2") } != nil)
    }

    /// Settings stored before Secure Boot and a chosen storage pool existed, with the enums as the
    /// strings every release wrote, decode from a row inserted as an earlier lcm did.
    @Test func settingsAnOlderLCMStoredStillDecode() throws {
        let world = try World()
        // What lcm wrote before those two keys existed: today's encoding without them.
        var current = world.settings()
        current.domainType = .kvm; current.storageBus = .virtio; current.networkModel = .virtio
        var old = try #require(try JSONSerialization.jsonObject(with: Data(try current.storedJSON().utf8)) as? [String: Any])
        old["secureBoot"] = nil
        old["storagePool"] = nil
        let json = String(decoding: try JSONSerialization.data(withJSONObject: old, options: [.sortedKeys]), as: UTF8.self)
        #expect(json.contains("\"storageBus\":\"virtio\"") && json.contains("\"domainType\":\"kvm\"") && !json.contains("secureBoot"))
        try world.inventory.write { db in
            try db.execute(sql: """
                INSERT INTO desktop (name, deviceID, imageVersionID, status, createdAt, updatedAt, stage, settings)
                VALUES ('desk-old', ?, ?, 'deployed', ?, ?, 'complete', ?)
                """, arguments: [world.device.id, world.versionID, Self.when, Self.when, json])
        }
        let desktop = try #require(try world.inventory.read { db in try DesktopStore.find(db, name: "desk-old") })
        let settings = try #require(desktop.settings)
        #expect(desktop.stage == .complete && desktop.status == .deployed)
        #expect(settings.storageBus == .virtio && settings.networkModel == .virtio && settings.domainType == .kvm)
        #expect(settings.storagePool == nil && settings.pool == DeviceStoragePool.name)
        #expect(settings.secureBoot == nil && !settings.usesSecureBoot)
        #expect(settings.computerName == "PC-ANNA" && settings.vcpus == 3 && settings.user == "anna")
    }

    @Test func unreadableSettingsAreAClearError() throws {
        let world = try World()
        var desktop = Desktop(name: "desk-bad", deviceID: world.device.id, imageVersionID: world.versionID, settings: world.settings())
        try world.inventory.write { db in try DesktopStore.insert(db, &desktop) }
        let good = try world.settings().storedJSON()
        var withoutURI = try #require(try JSONSerialization.jsonObject(with: Data(good.utf8)) as? [String: Any])
        withoutURI["uri"] = nil
        let missingURI = String(decoding: try JSONSerialization.data(withJSONObject: withoutURI), as: UTF8.self)
        let damaged: [(json: String, says: String)] = [
            ("{not json", "unreadable"),
            (missingURI, "\"uri\" is missing"),
            (good.replacingOccurrences(of: "\"storageBus\":\"sata\"", with: "\"storageBus\":\"scsi\""), "storageBus"),
        ]
        for (json, says) in damaged {
            try world.inventory.write { db in
                try db.execute(sql: "UPDATE desktop SET settings = ? WHERE id = ?", arguments: [json, desktop.id])
            }
            let error = try #require(throws: LCMError.self) { try world.inventory.read { db in try DesktopStore.find(db, name: "desk-bad") } }
            #expect(error.code == .databaseError, "\(error)")
            #expect(error.message.contains("desktop desk-bad") && error.message.contains("settings"), "\(error.message)")
            #expect(error.message.contains(says), "\(error.message)")
            #expect(error.hint?.contains("backup") == true)
            // The narrow reads that do not need the settings still work.
            #expect(try world.inventory.read { db in try DesktopStore.status(db, name: "desk-bad") } == .provisioning)
        }
        let unknownStage = try #require(throws: LCMError.self) {
            try world.inventory.write { db in
                try db.execute(sql: "UPDATE desktop SET settings = NULL, stage = 'halfway' WHERE id = ?", arguments: [desktop.id])
            }
            _ = try world.inventory.read { db in try DesktopStore.find(db, name: "desk-bad") }
        }
        #expect(unknownStage.code == .databaseError && unknownStage.message.contains("stage 'halfway'"), "\(unknownStage)")
    }

    /// One ordered list; its identifiers are the ones lcm.db files have recorded since each was
    /// written, applied in that order.
    @Test func migrationsAreOneOrderedList() throws {
        let identifiers = ["v1-model", "v2-procure", "v3-disks", "v4-images", "v5-deploy", "v6-deploy-allocation",
                           "v7-patch", "v8-patch-medium", "v9-retire", "v10-deploy-generation"]
        #expect(InventorySchema.migrations.map(\.identifier) == identifiers)
        #expect(InventorySchema.migrator.migrations == identifiers)
        let world = try World()
        let applied = try world.inventory.read { db in
            try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
        }
        #expect(applied == identifiers)
        // Every column the desktop table has is one the record reads and writes.
        let columns = try world.inventory.read { db in try db.columns(in: "desktop").map(\.name) }
        let written = try Desktop(name: "x", deviceID: nil).databaseDictionary.keys
        #expect(Set(columns) == Set(written), "\(columns)")
    }
}
