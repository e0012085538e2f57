import Foundation
import Guestfs
import Testing

/// Handle configuration and logging, without launching an appliance.
@Suite struct GuestfsSessionTests {
    @Test func traceMessagesGoToTheLogHandlerNotStderr() throws {
        let log = LogCollector()
        let (outcome, printed) = try capturingStderr { () -> Int in
            let g = try GuestfsSession(
                backendSettings: GuestfsSession.tcgBackendSettings, memsizeMiB: 512, smp: 1,
                trace: true, logHandler: { event, message in log.append(event, message) })
            let drives = try g.maximumDrives
            #expect(throws: GuestfsError.self) { try g.addDrive(path: "/nonexistent/lcm.img", format: "raw") }
            g.close()
            g.close()
            return drives
        }
        #expect(try outcome.get() > 0)
        let traces = log.entries.filter { $0.0 == .trace }.map(\.1)
        #expect(traces.contains { $0.contains("max_disks") })
        #expect(traces.contains { $0.contains("add_drive") })
        #expect(!printed.contains("libguestfs"), "libguestfs printed: \(printed)")
    }

    @Test func invalidSettingsThrow() {
        #expect(throws: GuestfsError.self) { _ = try GuestfsSession(memsizeMiB: Int(Int32.max) + 1) }
    }
}

final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [(GuestfsLogEvent, String)] = []

    func append(_ event: GuestfsLogEvent, _ message: String) { lock.withLock { collected.append((event, message)) } }
    var entries: [(GuestfsLogEvent, String)] { lock.withLock { collected } }
}
