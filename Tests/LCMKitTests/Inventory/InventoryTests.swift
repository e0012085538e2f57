import Foundation
import GRDB
import LCMKit
import LCMTestSupport
import Testing

@Suite struct InventoryTests {
    @Test func migratesFromAnEmptyFile() throws {
        let scratch = ScratchDirectory()
        let home = LCMHome(url: scratch.url.appendingPathComponent("home"))
        try FileManager.default.createDirectory(at: home.url, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: home.databaseURL.path, contents: Data())
        let inventory = try Inventory.open(home: home)
        let tables = try inventory.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        for table in ["device", "desktop", "user", "image", "imageVersion", "licensePool", "licenseSeat", "event", "operation"] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        let mode = try inventory.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        let status = Inventory.schemaStatus(home: home)
        #expect(status.exists && status.current)
        // The database holds key material later: only its owner may read it.
        let permissions = try FileManager.default.attributesOfItem(atPath: home.databaseURL.path)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
    }

    @Test func refusesAForeignSQLiteFileWithoutChangingIt() throws {
        let scratch = ScratchDirectory()
        let home = LCMHome(url: scratch.url)
        let queue = try DatabaseQueue(path: home.databaseURL.path)
        try queue.write { try $0.execute(sql: "CREATE TABLE recipes (id INTEGER PRIMARY KEY, name TEXT)") }
        try queue.close()
        let before = try Data(contentsOf: home.databaseURL)
        #expect(throws: LCMError.self) { try Inventory.open(home: home) }
        do { _ = try Inventory.open(home: home) } catch let error as LCMError {
            #expect(error.code == .databaseError)
            #expect(error.message.contains("did not create"))
        }
        #expect(try Data(contentsOf: home.databaseURL) == before)
        #expect(!FileManager.default.fileExists(atPath: home.databaseURL.path + "-wal"))
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let scratch = ScratchDirectory()
        let home = LCMHome(url: scratch.url)
        let garbage = Data((0..<8192).map { UInt8($0 % 251) })
        try garbage.write(to: home.databaseURL)
        do {
            _ = try Inventory.open(home: home)
            Issue.record("opened a garbage file")
        } catch let error as LCMError {
            #expect(error.code == .databaseError)
        }
        #expect(try Data(contentsOf: home.databaseURL) == garbage)
    }

    @Test func refusesADatabaseFromANewerLCM() throws {
        let scratch = ScratchDirectory()
        let home = LCMHome(url: scratch.url)
        _ = try Inventory.open(home: home)
        let queue = try DatabaseQueue(path: home.databaseURL.path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-future')") }
        try queue.close()
        do {
            _ = try Inventory.open(home: home)
            Issue.record("opened a newer database")
        } catch let error as LCMError {
            #expect(error.code == .databaseError)
            #expect(error.message.contains("newer lcm"))
        }
    }

    @Test func unwritableHomeFailsWithoutCreatingAnything() throws {
        let scratch = ScratchDirectory()
        let blocker = scratch.file("not-a-directory")
        try Data("x".utf8).write(to: blocker)
        let home = LCMHome(url: blocker.appendingPathComponent("home"))
        do {
            _ = try Inventory.open(home: home)
            Issue.record("opened a home under a regular file")
        } catch let error as LCMError {
            #expect(error.code == .cannotWrite)
            #expect(error.hint?.contains("--home") == true)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["not-a-directory"])
    }

    @Test func auditLogIsAppendOnly() throws {
        let scratch = ScratchDirectory()
        let inventory = try Inventory.open(home: LCMHome(url: scratch.url))
        try inventory.recordEvent(objectKind: "device", objectID: "T1", action: "added")
        #expect(throws: (any Error).self) { try inventory.write { try $0.execute(sql: "UPDATE event SET action = 'x'") } }
        #expect(throws: (any Error).self) { try inventory.write { try $0.execute(sql: "DELETE FROM event") } }
        let actions = try inventory.read { try String.fetchAll($0, sql: "SELECT action FROM event") }
        #expect(actions == ["added"])
    }

    @Test func changeAndEventCommitTogetherOrNotAtAll() throws {
        let scratch = ScratchDirectory()
        let inventory = try Inventory.open(home: LCMHome(url: scratch.url))
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try inventory.write { db in
                var device = Device(assetTag: "T1", serial: "S1")
                try device.insert(db)
                try AuditLog.record(db, actor: inventory.actor, objectKind: "device", objectID: "T1", action: "added")
                throw Boom()
            }
        }
        #expect(try inventory.read { try Device.fetchCount($0) } == 0)
        #expect(try inventory.read { try AuditEvent.fetchCount($0) } == 0)
    }

    @Test func secretOptionValuesAreRedacted() {
        let redacted = AuditActor.redact(["lcm", "procure", "license", "add", "--key", "ABCDE-12345", "--password=hunter2", "--seats", "5"])
        #expect(redacted == ["lcm", "procure", "license", "add", "--key", "<redacted>", "--password=<redacted>", "--seats", "5"])
    }

    /// Overlapping cron jobs: 8 processes append 200 events each; none fails, none is lost.
    @Test func concurrentProcessesLoseNoWrite() throws {
        let scratch = ScratchDirectory()
        let home = scratch.url.appendingPathComponent("home").path
        let testkit = BuiltProducts.executable("lcm-testkit")
        let results = UnsafeSendableBox<[ProgramRun?]>(Array(repeating: nil, count: 8))
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            let run = try? ProgramRun.run(testkit, ["append-events", "--home", home, "--count", "200", "--tag", "writer-\(index)"])
            results.withLock { $0[index] = run }
        }
        for (index, run) in results.value.enumerated() {
            #expect(run?.status == 0, "writer \(index) failed: \(run?.stderr ?? "did not run")")
        }
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
        let counts = try inventory.read { db in
            try Row.fetchAll(db, sql: "SELECT objectID, count(*) AS n FROM event WHERE objectKind = 'test' GROUP BY objectID")
                .map { ($0["objectID"] as String, $0["n"] as Int) }
        }
        #expect(counts.count == 8)
        #expect(counts.allSatisfy { $0.1 == 200 })
        #expect(counts.reduce(0) { $0 + $1.1 } == 1600)
    }
}

/// A lock-protected box for collecting results from concurrent work in tests.
final class UnsafeSendableBox<T>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    func withLock(_ body: (inout T) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}
