import Foundation
import Libvirt

/// Finds out whether an accelerator really runs guests on a device by booting a Linux kernel
/// (the admin machine's own, which libguestfs needs anyway) with no root filesystem: it prints its
/// boot log on the serial console and panics at "VFS: Unable to mount root fs". Reaching that line
/// proves long mode, interrupts and timers work. Some hosts advertise KVM whose guests hang right
/// after the kernel is decompressed (broken nested virtualisation); only a real boot tells, and a
/// real-mode boot sector is not enough (it runs fine there).
public struct AcceleratorProbe: Sendable {
    /// Printed by the kernel once it has initialized everything and looks for its root filesystem.
    public static let marker = "VFS: Unable to mount root fs"

    /// The newest host kernel usable as a probe guest.
    public static func hostKernel() -> URL? {
        let boot = URL(fileURLWithPath: "/boot")
        let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: boot.path)) ?? [])
            .filter { $0.hasPrefix("vmlinuz-") }
            .sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        return kernels.last.map { boot.appendingPathComponent($0) }
            .flatMap { access($0.path, R_OK) == 0 ? $0 : nil }
    }

    public struct Result: Sendable {
        public var works: Bool
        public var seconds: Double
        public var detail: String
    }

    public init() {}

    /// Boots the probe kernel with `domainType` ("kvm" or "qemu") and waits up to `timeout` seconds
    /// for its marker on the serial console. The kernel travels to the device through a volume
    /// upload (a stream), so this works on remote devices too; the domain is transient and
    /// auto-destroyed, and the volume is deleted afterwards.
    public func probe(connection: Connection, pool: StoragePool, domainType: String, timeout: Double) throws -> Result {
        guard let kernel = Self.hostKernel() else {
            throw LCMError(.unavailable, "no readable kernel in /boot for the probe guest",
                           hint: "install linux-image-amd64 (libguestfs needs it too)")
        }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let size = (try FileManager.default.attributesOfItem(atPath: kernel.path)[.size] as? NSNumber)?.uint64Value ?? 0
        let volume = try pool.createVolume(xml: StorageVolumeDefinition(name: "lcm-probe-\(suffix).kernel", capacityBytes: size, format: "raw").xml)
        defer { try? volume.delete() }
        _ = try volume.upload(from: kernel)
        let kernelPath = try volume.path

        let xml = Self.definition(domainType: domainType, name: "lcm-probe-\(suffix)", kernelPath: kernelPath).xml
        let started = Date()
        // Paused first, so no byte of console output is lost before the console is attached.
        let domain = try connection.createTransientDomain(xml: xml, paused: true, autoDestroy: true)
        defer { try? domain.destroy() }
        let console = try domain.openConsole(device: nil, nonBlocking: true)
        defer { try? console.abort() }
        try domain.resume()
        let bootStart = Date()
        var seen: [UInt8] = []
        let needle = Array(Self.marker.utf8)
        while Date().timeIntervalSince(bootStart) < timeout {
            if let chunk = try console.receive(max: 4096) {
                if chunk.isEmpty { break }
                seen += chunk
                if seen.count >= needle.count, Self.contains(seen, needle) {
                    let seconds = Date().timeIntervalSince(started)
                    return Result(works: true, seconds: seconds,
                                  detail: String(format: "probe guest booted in %.1f s", seconds))
                }
            } else {
                usleep(50_000)
            }
        }
        return Result(works: false, seconds: Date().timeIntervalSince(started),
                      detail: String(format: "probe guest printed nothing in %.0f s (guests hang)", timeout))
    }

    /// The probe guest: the host's kernel booted directly (no disk), its console on a pty.
    static func definition(domainType: String, name: String, kernelPath: String) -> DomainDefinition {
        DomainDefinition(type: domainType, name: name, memory: .mebibytes(256), vcpu: .init(count: 1, placement: nil),
                         os: .init(machine: "pc", kernel: kernelPath, commandLine: "console=ttyS0 panic=-1 quiet loglevel=3"),
                         onReboot: "destroy",
                         devices: DomainDevices(serials: [.init(type: "pty", targetPort: "0")],
                                                consoles: [.init(type: "pty", targetType: "serial", targetPort: "0")]))
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<start + needle.count].elementsEqual(needle) {
            return true
        }
        return false
    }
}
