import Archive
import Foundation
import GRDB
import Guestfs
import Hivex
import LCMKit
import LCMTestSupport
import Libvirt
import Testing

/// Errors from below, each made for real where it can be, reach the admin with a documented exit
/// code other than 1 (issue 27 item 7); only an error nothing explains is a bug.
@Suite("LCMError.from translates every layer's errors")
struct ErrorTranslationTests {
    @Test func libvirtErrorsByMeaning() throws {
        let connection = try Connection(uri: "qemu:///system")
        let name = "lcm-translate-\(UUID().uuidString.prefix(8))"
        let domain = try connection.defineDomain(xml: """
            <domain type='qemu'><name>\(name)</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>
            """)
        defer { try? domain.undefine(removeNVRAM: true, removeTPMState: true) }
        // Not running: powering it off is refused (a conflict, the admin's retry may work).
        let refused = try #require(throws: LibvirtError.self) { try domain.destroy() }
        #expect(LCMError.from(refused).code == .conflict, "\(refused)")
        try domain.undefine(removeNVRAM: false, removeTPMState: false)
        // Gone behind lcm's back: not found.
        let gone = try #require(throws: LibvirtError.self) { _ = try domain.state() }
        #expect(LCMError.from(gone).code == .notFound, "\(gone)")
        // Nobody listening: unavailable, with the URI's host in the message.
        let unreachable = try #require(throws: LibvirtError.self) { _ = try Connection(uri: "qemu+tcp://127.0.0.1:1/system") }
        let translated = LCMError.from(unreachable)
        #expect(translated.code == .unavailable && translated.hint?.contains("libvirtd") == true, "\(translated)")
    }

    @Test func fileSystemErrorsBySystemReason() throws {
        // /dev/full: every write fails with ENOSPC, as a full disk does.
        let full = try #require(throws: (any Error).self) { try Data("x".utf8).write(to: URL(fileURLWithPath: "/dev/full")) }
        let translated = LCMError.from(full)
        #expect(translated.code == .cannotWrite, "\(full)")
        #expect(translated.message == String(cString: strerror(ENOSPC)), "\(translated.message)")
        #expect(!translated.message.contains("NSCocoaErrorDomain"))
        let missing = try #require(throws: (any Error).self) { _ = try Data(contentsOf: URL(fileURLWithPath: "/nonexistent/lcm-\(UUID())")) }
        #expect(LCMError.from(missing).code == .notFound, "\(missing)")
    }

    @Test func hiveArchiveDatabaseAndApplianceErrors() throws {
        let scratch = ScratchDirectory(prefix: "lcm-translate")
        let notAHive = scratch.file("SYSTEM")
        try Data(repeating: 0x41, count: 8192).write(to: notAHive)
        let hive = try #require(throws: HivexError.self) { _ = try Hive(path: notAHive.path) }
        #expect(LCMError.from(hive).code == .dataError, "\(hive)")

        let notAnArchive = scratch.file("media.iso")
        try Data(String(repeating: "not an archive, just text. ", count: 200).utf8).write(to: notAnArchive)
        let archive = try #require(throws: ArchiveError.self) { _ = try ArchiveReader(contentsOf: notAnArchive).nextEntry() }
        #expect(LCMError.from(archive).code == .dataError, "\(archive)")

        #expect(LCMError.from(DatabaseError(resultCode: .SQLITE_FULL)).code == .cannotWrite)
        #expect(LCMError.from(DatabaseError(resultCode: .SQLITE_BUSY)).code == .busy)
        #expect(LCMError.from(GuestfsError(operation: "launch", message: "qemu exited")).code == .unavailable)
        #expect(LCMError.from(GuestfsError(operation: "upload", message: "write", errno: ENOSPC)).code == .cannotWrite)

        // Only what nothing explains is a bug.
        struct Unexplained: Error {}
        #expect(LCMError.from(Unexplained()).code == .failure)
    }
}
