import Foundation
import GRDB
import LCMKit
import LCMTestSupport
import Testing

/// Device status transitions, check-out/check-in, and license seats.
@Suite struct ProcureLifecycleTests {
    /// The table as the issue states it, written out independently of the code's dictionary.
    static let expected: Set<String> = [
        "ordered>in stock", "ordered>retired",
        "in stock>deployed", "in stock>in repair", "in stock>retired",
        "deployed>in stock", "deployed>in repair", "deployed>retired",
        "in repair>in stock", "in repair>deployed", "in repair>retired",
        "retired>disposed",
    ]

    /// Walks a fresh device from `ordered` to `status` along allowed moves.
    func device(in status: DeviceStatus, _ fixture: ProcureFixture, tag: String) throws -> Device {
        let path: [DeviceStatus] = switch status {
        case .ordered: []
        case .inStock: [.inStock]
        case .deployed: [.inStock, .deployed]
        case .inRepair: [.inStock, .inRepair]
        case .retired: [.retired]
        case .disposed: [.retired, .disposed]
        }
        var device = try fixture.addDevice(tag, status: .ordered)
        for step in path {
            device = try fixture.inventory.write { try DeviceLifecycle.move($0, device, to: step, note: "wiped (test)", actor: fixture.actor) }
        }
        #expect(device.status == status)
        return device
    }

    @Test func everyPairFollowsTheTransitionTable() throws {
        let fixture = try ProcureFixture()
        var index = 0
        for from in DeviceStatus.allCases {
            for to in DeviceStatus.allCases where to != from {
                index += 1
                let start = try device(in: from, fixture, tag: "T\(index)")
                let allowed = Self.expected.contains("\(from.rawValue)>\(to.rawValue)")
                #expect(DeviceLifecycle.canMove(from: from, to: to) == allowed, "\(from.rawValue) -> \(to.rawValue)")
                let before = try fixture.counts()
                do {
                    let moved = try fixture.inventory.write { try DeviceLifecycle.move($0, start, to: to, note: "wiped (test)", actor: fixture.actor) }
                    #expect(allowed, "\(from.rawValue) -> \(to.rawValue) was allowed")
                    #expect(moved.status == to)
                } catch let error as LCMError {
                    #expect(!allowed, "\(from.rawValue) -> \(to.rawValue) refused: \(error)")
                    #expect(error.code == .conflict)
                    #expect(error.message.contains("cannot go from \(from.rawValue) to \(to.rawValue)"))
                    // The refusal lists the moves that are allowed.
                    let listed = DeviceLifecycle.allowed(from: from).map(\.rawValue)
                    #expect(error.hint == (listed.isEmpty ? "\(from.rawValue) is final" : "allowed from \(from.rawValue): \(listed.joined(separator: ", "))"))
                    #expect(try fixture.counts() == before)
                }
            }
        }
        let tableCount = DeviceLifecycle.transitions.values.reduce(0) { $0 + $1.count }
        #expect(tableCount == Self.expected.count)
    }

    @Test func movesAreRecordedAndRepeatingOneIsANoOp() throws {
        let fixture = try ProcureFixture()
        var device = try fixture.addDevice("PC-1", status: .ordered)
        device = try fixture.inventory.write { try DeviceLifecycle.move($0, device, to: .inStock, note: "delivered", actor: fixture.actor) }
        let before = try fixture.counts()
        device = try fixture.inventory.write { try DeviceLifecycle.move($0, device, to: .inStock, actor: fixture.actor) }
        #expect(try fixture.counts() == before)
        let history = try fixture.inventory.read { try DeviceLifecycle.history($0, deviceID: device.id!) }
        #expect(history.map { "\($0.fromStatus?.rawValue ?? "-")>\($0.toStatus.rawValue)" } == ["->ordered", "ordered>in stock"])
        #expect(history.last?.note == "delivered")
        #expect(history.last?.osUser == "tester")
        let events = try fixture.inventory.read {
            try String.fetchAll($0, sql: "SELECT details FROM event WHERE objectID = 'PC-1' AND action = 'status'")
        }
        #expect(events == ["{\"from\":\"ordered\",\"note\":\"delivered\",\"to\":\"in stock\"}"])
    }

    @Test func retiringNeedsNoLiveDesktopAndNoUser() throws {
        let fixture = try ProcureFixture()
        let device = try fixture.addDevice("PC-1")
        try fixture.addDesktop("alice-win", on: device)
        let live = expectLCMError { try fixture.inventory.write { _ = try DeviceLifecycle.move($0, device, to: .retired, actor: fixture.actor) } }
        #expect(live?.code == .conflict)
        #expect(live?.message.contains("alice-win") == true)
        try fixture.inventory.write { try $0.execute(sql: "UPDATE desktop SET status = 'retired'") }

        let alice = try fixture.addUser("alice")
        try fixture.inventory.write { _ = try Assignments.checkOut($0, kind: .device, objectID: device.id!, userID: alice.id!, actor: fixture.actor) }
        let held = expectLCMError { try fixture.inventory.write { _ = try DeviceLifecycle.move($0, device, to: .retired, actor: fixture.actor) } }
        #expect(held?.code == .conflict)
        #expect(held?.hint?.contains("checkin") == true)
        try fixture.inventory.write { _ = try Assignments.checkIn($0, kind: .device, objectID: device.id!, actor: fixture.actor) }
        let retired = try fixture.inventory.write { try DeviceLifecycle.move($0, device, to: .retired, actor: fixture.actor) }
        #expect(retired.status == .retired)

        // Disposal needs a note on how the disks were wiped.
        let noNote = expectLCMError { try fixture.inventory.write { _ = try DeviceLifecycle.move($0, retired, to: .disposed, note: "  ", actor: fixture.actor) } }
        #expect(noNote?.code == .usage)
        let disposed = try fixture.inventory.write { try DeviceLifecycle.move($0, retired, to: .disposed, note: "wiped: NIST purge", actor: fixture.actor) }
        #expect(disposed.status == .disposed)
    }

    @Test func checkOutAndInKeepHistory() throws {
        let fixture = try ProcureFixture()
        let device = try fixture.addDevice("PC-1")
        let alice = try fixture.addUser("alice"), bob = try fixture.addUser("bob")
        let id = device.id!
        try fixture.inventory.write { _ = try Assignments.checkOut($0, kind: .device, objectID: id, userID: alice.id!, actor: fixture.actor) }
        var current = try fixture.inventory.read { try Device.fetchOne($0, key: id)! }
        #expect(current.status == .deployed)
        #expect(current.userID == alice.id)

        // Same user again: no-op. Someone else: conflict naming the holder.
        let before = try fixture.counts()
        try fixture.inventory.write { _ = try Assignments.checkOut($0, kind: .device, objectID: id, userID: alice.id!, actor: fixture.actor) }
        #expect(try fixture.counts() == before)
        let taken = expectLCMError { try fixture.inventory.write { _ = try Assignments.checkOut($0, kind: .device, objectID: id, userID: bob.id!, actor: fixture.actor) } }
        #expect(taken?.code == .conflict)
        #expect(taken?.message.contains("alice") == true)

        try fixture.inventory.write { _ = try Assignments.checkIn($0, kind: .device, objectID: id, actor: fixture.actor) }
        current = try fixture.inventory.read { try Device.fetchOne($0, key: id)! }
        #expect(current.status == .inStock)
        #expect(current.userID == nil)
        let notOut = expectLCMError { try fixture.inventory.write { _ = try Assignments.checkIn($0, kind: .device, objectID: id, actor: fixture.actor) } }
        #expect(notOut?.code == .conflict)

        try fixture.inventory.write { _ = try Assignments.checkOut($0, kind: .device, objectID: id, userID: bob.id!, actor: fixture.actor) }
        try fixture.inventory.write { _ = try Assignments.checkIn($0, kind: .device, objectID: id, keepStatus: true, actor: fixture.actor) }
        current = try fixture.inventory.read { try Device.fetchOne($0, key: id)! }
        #expect(current.status == .deployed)

        let history = try fixture.inventory.read { try Assignments.history($0, kind: .device, objectID: id) }
        #expect(history.map(\.userID) == [alice.id!, bob.id!])
        #expect(history.allSatisfy { $0.checkedInAt != nil })
        let timeline = try fixture.inventory.read { try DeviceLifecycle.timeline($0, device: device) }
        #expect(timeline.rows.map { $0[1].plain } == ["add", "status", "check-out", "status", "check-in", "status", "check-out", "check-in"])
        #expect(timeline.rows.map { $0[2].plain } == [
            "entered as in stock", "in stock -> deployed (checked out to alice)", "to alice",
            "deployed -> in stock (checked in from alice)", "from alice",
            "in stock -> deployed (checked out to bob)", "to bob", "from bob",
        ])

        // A device in repair cannot be checked out.
        let repaired = try fixture.inventory.write { try DeviceLifecycle.move($0, current, to: .inRepair, actor: fixture.actor) }
        let inRepair = expectLCMError { try fixture.inventory.write { _ = try Assignments.checkOut($0, kind: .device, objectID: repaired.id!, userID: alice.id!, actor: fixture.actor) } }
        #expect(inRepair?.code == .conflict)
    }

    @Test func theDatabaseRefusesTwoOpenCheckOuts() throws {
        let fixture = try ProcureFixture()
        let device = try fixture.addDevice("PC-1")
        let alice = try fixture.addUser("alice")
        #expect(throws: (any Error).self) {
            try fixture.inventory.write { db in
                for _ in 0..<2 {
                    var a = Assignment(objectKind: .device, objectID: device.id!, userID: alice.id!, checkedOutAt: Date())
                    try a.insert(db)
                }
            }
        }
    }

    @Test func seatsAreTakenReleasedAndNeverOverAllocated() throws {
        let fixture = try ProcureFixture()
        try fixture.inventory.write {
            _ = try Licenses.addPool($0, name: "win11", product: "Windows 11 Enterprise", edition: "MAK", seats: 2, expires: nil,
                                     key: nil, masterKey: nil, actor: fixture.actor)
        }
        let a = try fixture.addDesktop("a"), b = try fixture.addDesktop("b"), c = try fixture.addDesktop("c")
        let seatA = try fixture.inventory.write { try Licenses.takeSeat($0, pool: "win11", desktopID: a.id!, actor: fixture.actor) }
        // Taking again for the same desktop keeps the same seat (a retried deploy step).
        let again = try fixture.inventory.write { try Licenses.takeSeat($0, pool: "win11", desktopID: a.id!, actor: fixture.actor) }
        #expect(again.id == seatA.id)
        try fixture.inventory.write { _ = try Licenses.takeSeat($0, pool: "win11", desktopID: b.id!, actor: fixture.actor) }

        let before = try fixture.counts()
        let full = expectLCMError { try fixture.inventory.write { _ = try Licenses.takeSeat($0, pool: "win11", desktopID: c.id!, actor: fixture.actor) } }
        #expect(full?.code == .conflict)
        #expect(full?.message == "license pool 'win11' has no free seat (2 of 2 in use)")
        #expect(try fixture.counts() == before)

        let shrink = expectLCMError { try fixture.inventory.write { _ = try Licenses.updatePool($0, name: "win11", seats: 1, actor: fixture.actor) } }
        #expect(shrink?.code == .conflict)
        let remove = expectLCMError { try fixture.inventory.write { try Licenses.removePool($0, name: "win11", actor: fixture.actor) } }
        #expect(remove?.code == .conflict)

        // Retire gives the seat back; releasing twice is harmless.
        #expect(try fixture.inventory.write { try Licenses.releaseSeats($0, desktopID: a.id!, actor: fixture.actor) } == 1)
        #expect(try fixture.inventory.write { try Licenses.releaseSeats($0, desktopID: a.id!, actor: fixture.actor) } == 0)
        try fixture.inventory.write { _ = try Licenses.takeSeat($0, pool: "win11", desktopID: c.id!, actor: fixture.actor) }
        let usage = try fixture.inventory.read { try Licenses.usage($0) }
        #expect(usage.map { "\($0.pool) \($0.used)/\($0.seats) free \($0.free)" } == ["win11 2/2 free 0"])
        let listed = try InventoryQuery(inventory: fixture.inventory).list(.licenses)
        #expect(listed.columns.contains("free"))
        #expect(listed.rows.first?[listed.columns.firstIndex(of: "used")!] == .integer(2))

        let unknown = expectLCMError { try fixture.inventory.write { _ = try Licenses.takeSeat($0, pool: "office", desktopID: c.id!, actor: fixture.actor) } }
        #expect(unknown?.code == .notFound)
    }

    @Test func concurrentWritersNeverExceedTheSeats() throws {
        let fixture = try ProcureFixture()
        try fixture.inventory.write {
            _ = try Licenses.addPool($0, name: "p", product: "P", edition: nil, seats: 5, expires: nil, key: nil, masterKey: nil, actor: fixture.actor)
        }
        let desktops = try (0..<20).map { try fixture.addDesktop("d\($0)") }
        let home = fixture.home
        let granted = UnsafeSendableBox(0)
        DispatchQueue.concurrentPerform(iterations: desktops.count) { i in
            // Separate Inventory instances: separate connections, as separate processes would have.
            guard let inventory = try? Inventory.open(home: home) else { return }
            if (try? inventory.write { try Licenses.takeSeat($0, pool: "p", desktopID: desktops[i].id!) }) != nil {
                granted.withLock { $0 += 1 }
            }
        }
        #expect(granted.value == 5)
        #expect(try fixture.inventory.read { try Licenses.used($0, poolID: 1) } == 5)
    }

    @Test func anExpiredPoolGivesNoSeat() throws {
        let fixture = try ProcureFixture()
        try fixture.inventory.write {
            _ = try Licenses.addPool($0, name: "old", product: "P", edition: nil, seats: 5, expires: "2020-12-31", key: nil, masterKey: nil, actor: fixture.actor)
        }
        let d = try fixture.addDesktop("d")
        let expired = expectLCMError { try fixture.inventory.write { _ = try Licenses.takeSeat($0, pool: "old", desktopID: d.id!, actor: fixture.actor) } }
        #expect(expired?.code == .conflict)
        #expect(expired?.message.contains("expired on 2020-12-31") == true)
        try fixture.inventory.write { _ = try Licenses.updatePool($0, name: "old", expires: .some(nil), actor: fixture.actor) }
        try fixture.inventory.write { _ = try Licenses.takeSeat($0, pool: "old", desktopID: d.id!, actor: fixture.actor) }
    }

    @Test func warrantyEndsAtTheEndOfShortMonths() throws {
        let fixture = try ProcureFixture()
        try fixture.inventory.write { db in
            for (tag, date, months) in [("A", "2024-01-31", 1), ("B", "2023-03-15", 36), ("C", "2026-01-01", 12)] {
                var input = AssetInput(assetTag: tag, serial: "S\(tag)")
                input.purchaseDate = date; input.warrantyMonths = months
                try AssetIntake.add(db, input, actor: fixture.actor)
            }
        }
        let today = AssetFieldsTestDates.day("2026-02-20")
        let report = try fixture.inventory.read { try ProcureReports.warranty($0, withinDays: 30, includeExpired: true, today: today) }
        let ends = Dictionary(uniqueKeysWithValues: report.rows.map { ($0[0].plain, $0[8].plain) })
        #expect(ends["A"] == "2024-02-29")
        #expect(ends["B"] == "2026-03-15")
        #expect(ends["C"] == nil) // 2027-01-01 is beyond 30 days
        let soon = try fixture.inventory.read { try ProcureReports.warranty($0, withinDays: 30, today: today) }
        #expect(soon.rows.map { $0[0].plain } == ["B"])
        #expect(soon.rows.first?[9] == .integer(23))
    }
}

enum AssetFieldsTestDates {
    static func day(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        return formatter.date(from: text + "T12:00:00Z")!
    }
}
