import Foundation
import GRDB
@testable import LCMKit
import LCMTestSupport
import Testing

/// The master key and sealed license keys.
@Suite struct ProcureSecretsTests {
    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func masterKeyIsCreatedOnceWithTightPermissions() throws {
        let fixture = try ProcureFixture()
        #expect(try MasterKey.load(home: fixture.home) == nil)
        let key = try MasterKey.loadOrCreate(home: fixture.home)
        let path = MasterKey.path(home: fixture.home).path
        #expect(try mode(path) == 0o600)
        #expect(try mode(MasterKey.path(home: fixture.home).deletingLastPathComponent().path) == 0o700)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == 38)
        // No temporary file is left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent) == ["master.key"])
        let again = try MasterKey.loadOrCreate(home: fixture.home)
        #expect(again.identifier == key.identifier)
        // A creator that loses the race gets the winner's key instead of replacing it.
        let late = try MasterKey.create(home: fixture.home)
        #expect(late.identifier == key.identifier)
    }

    /// Once the master key is loaded the process is non-dumpable and has a core size limit of 0:
    /// the dumpable flag read back from the kernel (prctl), the limit from /proc/self/limits.
    @Test func loadingTheMasterKeyKeepsItOutOfCoreFiles() throws {
        let fixture = try ProcureFixture()
        _ = try MasterKey.loadOrCreate(home: fixture.home)
        #expect(ProcessHardening.isInForce)
        let limits = try String(contentsOfFile: "/proc/self/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?
            .dropFirst("Max core file size".count).split(separator: " ").map(String.init)
        #expect(core == ["0", "0", "bytes"], "\(String(describing: core))")
    }

    /// The one holder of secret bytes: they read back whole, and never print.
    @Test func secretBytesHoldTheirBytesAndPrintRedacted() {
        let key = Array("VK7JG-NPHTM-C97JM-9MPGT-3V66T".utf8)
        let secret = SecretBytes(copying: key)
        #expect(secret.count == key.count)
        #expect(secret.withBytes { Array($0) } == key)
        for text in ["\(secret)", String(reflecting: secret)] { #expect(!text.contains("VK7JG"), "\(text)") }
        var copy = key
        SecretBytes.wipe(&copy)
        #expect(copy.allSatisfy { $0 == 0 } && copy.count == key.count)
        #expect(SecretBytes(copying: []).withBytes { $0.count } == 0)
    }

    @Test func sealOpenAndTamperDetection() throws {
        let fixture = try ProcureFixture()
        let key = try MasterKey.loadOrCreate(home: fixture.home)
        let secret = Data("NPPR9-FWDCX-D2C8J-H872K-2YT43".utf8)
        let sealed = try key.seal(secret, purpose: "license-pool:win11")
        #expect(sealed.data.range(of: secret) == nil)
        #expect(try key.open(sealed, purpose: "license-pool:win11") == secret)
        // The same secret sealed twice differs (fresh nonce).
        #expect(try key.seal(secret, purpose: "license-pool:win11") != sealed)

        let moved = expectLCMError { _ = try key.open(sealed, purpose: "license-pool:other") }
        #expect(moved?.code == .databaseError)
        var flipped = sealed
        flipped.data[flipped.data.count - 1] ^= 0x01
        #expect(expectLCMError { _ = try key.open(flipped, purpose: "license-pool:win11") }?.message.contains("altered") == true)

        let otherHome = try ProcureFixture()
        let foreign = try MasterKey.loadOrCreate(home: otherHome.home)
        #expect(expectLCMError { _ = try foreign.open(sealed, purpose: "license-pool:win11") }?.message.contains("another master key") == true)
    }

    @Test func exposedOrDamagedKeyFilesAreRefused() throws {
        let fixture = try ProcureFixture()
        _ = try MasterKey.loadOrCreate(home: fixture.home)
        let path = MasterKey.path(home: fixture.home).path
        chmod(path, 0o644)
        let exposed = expectLCMError { _ = try MasterKey.load(home: fixture.home) }
        #expect(exposed?.message.contains("readable or writable by other users") == true)
        #expect(exposed?.hint?.contains("chmod 600") == true)
        chmod(path, 0o600)
        if geteuid() == 0 {
            chown(path, 65534, 65534)
            #expect(expectLCMError { _ = try MasterKey.load(home: fixture.home) }?.message.contains("belongs to user 65534") == true)
            chown(path, 0, 0)
        }
        try Data("not a key".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        #expect(expectLCMError { _ = try MasterKey.load(home: fixture.home) }?.code == .databaseError)
    }

    @Test func licenseKeysAreStoredSealedAndRevealedOnlyOnRequest() throws {
        let fixture = try ProcureFixture()
        let productKey = "W269N-WFGWX-YVC9B-4J6C9-T83GX"
        let key = try MasterKey.loadOrCreate(home: fixture.home)
        try fixture.inventory.write {
            _ = try Licenses.addPool($0, name: "win11", product: "Windows 11 Pro", edition: "KMS", seats: 10, expires: "2030-12-31",
                                     key: productKey + "\n", masterKey: key, actor: fixture.actor)
        }
        let (blob, events) = try fixture.inventory.read { db in
            (try Data.fetchOne(db, sql: "SELECT protectedKey FROM licensePool"),
             try String.fetchAll(db, sql: "SELECT coalesce(details, '') || command FROM event"))
        }
        #expect(blob != nil)
        #expect(blob?.range(of: Data(productKey.utf8)) == nil)
        #expect(!events.contains { $0.contains(productKey) })
        #expect(events.first?.contains("stored sealed") == true)

        let hidden = try fixture.inventory.write { try Licenses.details($0, pool: "win11", revealWith: nil, actor: fixture.actor) }
        #expect(hidden.key == nil)
        #expect(hidden.keyStored)
        let shown = try fixture.inventory.write { try Licenses.details($0, pool: "win11", revealWith: key, actor: fixture.actor) }
        #expect(shown.key == productKey)
        let reveals = try fixture.inventory.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM event WHERE action = 'reveal-key'") }
        #expect(reveals == 1)

        // Nothing of the key reaches the database file or its WAL in clear.
        for suffix in ["", "-wal"] {
            if let bytes = FileManager.default.contents(atPath: fixture.home.databaseURL.path + suffix) {
                #expect(bytes.range(of: Data(productKey.utf8)) == nil, "key in clear in lcm.db\(suffix)")
            }
        }
        #expect(throws: LCMError.self) { _ = try Licenses.normalizedKey("  \n") }
        #expect(throws: LCMError.self) { _ = try Licenses.normalizedKey("bad\u{7}key") }
    }
}
