import Foundation
import GRDB
import LCMKit
import LCMTestSupport

/// A fresh inventory in a scratch home, for the procure tests.
struct ProcureFixture {
    let scratch = ScratchDirectory(prefix: "lcm-procure")
    let home: LCMHome
    let inventory: Inventory
    let actor = AuditActor(osUser: "tester", pid: 4242, command: "lcm procure (test)")

    init() throws {
        home = LCMHome(url: scratch.url.appendingPathComponent("home"))
        inventory = try Inventory.open(home: home, actor: actor)
    }

    /// Writes `text` to a file in the scratch directory.
    func file(_ name: String, _ text: String) throws -> URL {
        let url = scratch.file(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    /// Row counts of the tables a procure change touches: must be unchanged after a refused change.
    func counts() throws -> [String: Int] {
        try inventory.read { db in
            var counts: [String: Int] = [:]
            for table in ["device", "event", "deviceStatusChange", "profile", "licensePool", "licenseSeat", "assignment", "user"] {
                counts[table] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)")
            }
            return counts
        }
    }

    @discardableResult
    func addDevice(_ tag: String, status: DeviceStatus = .inStock) throws -> Device {
        try inventory.write { db in
            try AssetIntake.add(db, AssetInput(assetTag: tag, serial: "SN-\(tag)", status: status), actor: actor)
        }
    }

    @discardableResult
    func addUser(_ name: String) throws -> User {
        try inventory.write { db in try Assignments.user(db, username: name, create: true, actor: actor) }
    }

    @discardableResult
    func addDesktop(_ name: String, on device: Device? = nil, status: DesktopStatus = .deployed) throws -> Desktop {
        try inventory.write { db in
            var desktop = Desktop(name: name, deviceID: device?.id, status: status)
            try desktop.insert(db)
            return desktop
        }
    }
}

/// Runs `body` expecting an LCMError and returns it (nil and a recorded issue otherwise).
func expectLCMError(_ body: () throws -> Void) -> LCMError? {
    do {
        try body()
    } catch let error as LCMError {
        return error
    } catch {
        return LCMError(.failure, "unexpected error type: \(error)")
    }
    return nil
}
