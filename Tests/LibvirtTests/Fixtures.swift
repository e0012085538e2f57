import Foundation
import Libvirt
import Testing

/// Every libvirt test runs inside this suite. `.serialized` keeps the real-daemon tests from
/// competing for the two cores and keeps the stderr capture free of other tests' output.
@Suite("Libvirt", .serialized)
struct LibvirtTests {}

/// Shared helpers for the libvirt tests.
enum Fixtures {
    static let systemURI = "qemu:///system"
    static let mockURI = "test:///default"

    /// A name no other run uses, so leftovers of a crashed run never collide.
    static func uniqueName(_ kind: String) -> String {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "lcmtest-\(kind)-\(suffix)"
    }

    /// The real daemon. Tests fail (not skip) if it is missing: CI must start libvirtd.
    static func system() throws -> Connection {
        try Connection(uri: systemURI)
    }

    /// A diskless software-emulated (TCG) guest; KVM guests hang on this kind of machine.
    /// With `console`, a pty serial port doubles as the console, and SeaBIOS writes there
    /// and reboots at once when it finds no boot disk, so the console never falls silent.
    static func tcgDomainXML(name: String, console: Bool = false) -> String {
        let bios = console ? "<bios useserial='yes' rebootTimeout='0'/>" : ""
        let devices = console
            ? """
                <serial type='pty'><target port='0'/></serial>
                <console type='pty'><target type='serial' port='0'/></console>
              """
            : ""
        return """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>64</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type>\(bios)</os>
              <on_poweroff>destroy</on_poweroff>
              <devices>
              \(devices)
              </devices>
            </domain>
            """
    }

    /// Runs `body` with file descriptor 2 redirected into a pipe; returns what was written.
    static func capturingStandardError<T>(_ body: () throws -> T) throws -> (result: Result<T, any Error>, stderr: String) {
        fflush(nil)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(.EIO) }
        let saved = dup(2)
        dup2(fds[1], 2)
        close(fds[1])
        let result = Result { try body() }
        fflush(nil)
        dup2(saved, 2)
        close(saved)

        // The write end is closed now, so this read loop ends at EOF.
        var captured: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if count <= 0 { break }
            captured += buffer[0..<count]
        }
        close(fds[0])
        return (result, String(decoding: captured, as: UTF8.self))
    }

    /// Runs a program with an argument vector (no shell) and returns its status and stdout.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, data)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Best-effort removal of a domain, for cleanup paths that must not throw.
    static func removeDomain(named name: String, on connection: Connection) {
        guard let domain = try? connection.lookupDomain(name: name) else { return }
        if (try? domain.isActive) == true { try? domain.destroy() }
        try? domain.undefine(removeNVRAM: true, removeTPMState: true)
    }

    /// Best-effort removal of a pool, its volumes and its directory.
    static func removePool(named name: String, directory: String, on connection: Connection) {
        if let pool = try? connection.lookupStoragePool(name: name) {
            if (try? pool.isActive) == true {
                try? pool.refresh()
                for volume in (try? pool.listAllVolumes()) ?? [] { try? volume.delete() }
                try? pool.destroy()
            }
            try? pool.delete()
            try? pool.undefine()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}
