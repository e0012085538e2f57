import Foundation
@testable import Guestfs
import Testing

/// The watchdog stops an appliance that hangs while booting, which libguestfs would wait for
/// forever. The hang is real: the appliance's qemu is frozen with SIGSTOP as soon as it starts.
@Suite struct CallWatchdogTests {
    @Test func aLaunchThatNeverAnswersIsStoppedAtTheLaunchLimit() throws {
        let dir = try makeTemporaryDirectory("lcm-watchdog-launch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let disk = dir.appendingPathComponent("empty.img").path
        #expect(FileManager.default.createFile(atPath: disk, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: disk))
        try handle.truncate(atOffset: 16 << 20)
        try handle.close()

        let session = try GuestfsSession(backend: "direct", backendSettings: GuestfsSession.tcgBackendSettings,
                                         callTimeout: 60, launchTimeout: 5)
        defer { session.close() }
        try session.addDrive(path: disk, format: "raw")
        let tag = session.applianceTag
        let frozen = Frozen()
        let freezer = Thread {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let found = CallWatchdog.processes(withArgumentContaining: tag)
                if !found.isEmpty {
                    for pid in found { kill(pid, SIGSTOP) }
                    frozen.set(found)
                    return
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        freezer.start()

        let start = Date()
        #expect {
            try session.launch()
        } throws: { error in
            "\(error)".contains("no answer to launch within 5 s")
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "watchdog: frozen launch stopped after %.1f s", seconds))
        let pids = frozen.pids
        #expect(!pids.isEmpty, "the appliance's qemu was never seen with tag \(tag)")
        #expect(seconds < 30)
        #expect(!session.isReady)
        // The frozen qemu was killed, not left stopped.
        Thread.sleep(forTimeInterval: 0.5)
        #expect(CallWatchdog.processes(withArgumentContaining: tag).isEmpty)
    }
}

private final class Frozen: @unchecked Sendable {
    private let lock = NSLock()
    private var found: [pid_t] = []
    func set(_ pids: [pid_t]) { lock.withLock { found = pids } }
    var pids: [pid_t] { lock.withLock { found } }
}
