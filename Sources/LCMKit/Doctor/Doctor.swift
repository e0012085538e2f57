import Foundation
import Guestfs
import Libvirt

/// One prerequisite check of `lcm doctor`.
public struct DoctorCheck: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case pass, warn, fail, skip }
    public var name: String
    /// A failed required check makes doctor exit non-zero; others only warn.
    public var required: Bool
    public var status: Status
    public var detail: String
    /// What to do about a failure or warning.
    public var fix: String?
    public var seconds: Double

    public init(name: String, required: Bool, status: Status, detail: String, fix: String? = nil, seconds: Double = 0) {
        self.name = name; self.required = required; self.status = status; self.detail = detail
        self.fix = fix; self.seconds = seconds
    }
}

/// The full report, also the JSON shape of `lcm doctor --format json`.
public struct DoctorReport: Codable, Sendable {
    public var ok: Bool
    /// The accelerator lcm will use for domains and the appliance (`--accel auto` resolved).
    public var accelerator: String?
    public var checks: [DoctorCheck]
}

/// Checks each prerequisite of lcm on the admin's machine and the device it connects to.
public struct Doctor: Sendable {
    let context: LCMContext
    public var settings: LCMSettings { context.settings }
    /// Skip the slow probes (accelerator boot, appliance launch).
    public var quick: Bool
    public var kvmProbeTimeout: Double = 8
    public var tcgProbeTimeout: Double = 30
    /// Told as each check is done.
    var progress: ProgressSink? { context.progress }

    public init(context: LCMContext, quick: Bool = false) {
        self.context = context; self.quick = quick
    }

    /// libvirt, storage pool, accelerator, firmware, TPM, appliance, home, database, leftovers, encryption.
    static let checkCount: UInt64 = 10

    public func run() -> DoctorReport {
        var checks: [DoctorCheck] = [] {
            didSet { progress?(ProgressUpdate("checks", done: UInt64(checks.count), of: Self.checkCount)) }
        }
        var accelerator: Accelerator?

        let (connectionCheck, connection) = timed(name: "libvirt") { () -> (DoctorCheck, Connection?) in
            do {
                // The probe reads a console without blocking: that needs libvirt's event loop,
                // registered before the connection opens.
                try EventLoop.start()
                let connection = try context.connect()
                let detail = "\(try connection.uri): libvirt \(try connection.libraryVersion), \(try connection.hypervisorType) \(try connection.hypervisorVersion)"
                return (DoctorCheck(name: "libvirt", required: true, status: .pass, detail: detail), connection)
            } catch {
                return (DoctorCheck(name: "libvirt", required: true, status: .fail,
                                    detail: LCMError.from(error).message,
                                    fix: "start libvirtd (scripts/setup does it on this machine) or pass the right --connect URI"), nil)
            }
        }
        checks.append(connectionCheck)

        var pool: StoragePool?
        if let connection {
            let (poolCheck, found) = timed(name: "storage pool") { () -> (DoctorCheck, StoragePool?) in
                do {
                    let (pool, created) = try DeviceStoragePool.ensure(on: connection)
                    try pool.refresh()
                    let info = try pool.info()
                    let freeGiB = Double(info.available) / 1_073_741_824
                    let status: DoctorCheck.Status = freeGiB < 10 ? .warn : .pass
                    return (DoctorCheck(name: "storage pool", required: true, status: status,
                                        detail: String(format: "pool '%@'%@: %.1f GiB free", try pool.name,
                                                       created ? " (created now)" : "", freeGiB),
                                        fix: status == .warn ? "free space on the device: a desktop needs tens of GiB" : nil), pool)
                } catch {
                    return (DoctorCheck(name: "storage pool", required: true, status: .fail,
                                        detail: "cannot prepare pool '\(DeviceStoragePool.name)': \(error)",
                                        fix: "check that \(DeviceStoragePool.defaultTargetPath(uri: (try? connection.uri) ?? settings.connectURI)) can be created on the device"), nil)
                }
            }
            checks.append(poolCheck)
            pool = found
            let (accelCheck, resolved) = acceleratorCheck(connection: connection, pool: pool)
            checks.append(accelCheck)
            accelerator = resolved
            if let resolved, !quick { Accelerator.remember(resolved, home: settings.home) }
            checks.append(firmwareCheck(connection: connection, accelerator: resolved))
            checks.append(tpmCheck(connection: connection, accelerator: resolved))
        } else {
            for name in ["storage pool", "accelerator", "uefi firmware", "tpm"] {
                checks.append(DoctorCheck(name: name, required: true, status: .skip, detail: "needs a libvirt connection"))
            }
        }
        if settings.accelerator == .kvm, checks.contains(where: { $0.name == "accelerator" && $0.status == .fail }) {
            // The appliance is a guest too: under a KVM that hangs guests it would hang doctor.
            checks.append(DoctorCheck(name: "libguestfs appliance", required: true, status: .skip,
                                      detail: "not launched: the forced accelerator kvm failed its probe",
                                      fix: "use --accel tcg or --accel auto"))
        } else {
            checks.append(applianceCheck(accelerator: accelerator ?? (settings.accelerator == .kvm ? .kvm : .tcg)))
        }
        checks.append(homeCheck())
        checks.append(databaseCheck())
        checks.append(leftoverCheck())
        // Reuses the connection above for the default device; other devices are opened by URI.
        checks.append(encryptionCheck(connect: { uri in
            if let connection, uri == settings.connectURI { return connection }
            return try context.connect(uri)
        }))

        let ok = !checks.contains { $0.required && $0.status == .fail }
        return DoctorReport(ok: ok, accelerator: accelerator?.rawValue, checks: checks)
    }

    // MARK: - Checks

    /// Decides which accelerator works: KVM only counts when a guest really boots under it.
    func acceleratorCheck(connection: Connection, pool: StoragePool?) -> (DoctorCheck, Accelerator?) {
        let started = Date()
        let advertisesKVM = (try? connection.capabilitiesXML())?.contains("type='kvm'") ?? false
            || ((try? connection.capabilitiesXML())?.contains("type=\"kvm\"") ?? false)
        if quick || pool == nil {
            let chosen: Accelerator = settings.accelerator == .auto ? (advertisesKVM ? .kvm : .tcg) : settings.accelerator
            return (DoctorCheck(name: "accelerator", required: true, status: quick ? .skip : .fail,
                                detail: quick ? "not probed (--quick); would use \(chosen.rawValue)" : "no storage pool for the probe",
                                fix: quick ? nil : "fix the storage pool check first"), chosen)
        }
        guard let pool else { return (DoctorCheck(name: "accelerator", required: true, status: .fail, detail: "no pool"), nil) }
        let probe = AcceleratorProbe()
        var notes: [String] = []
        var kvmWorks = false
        if settings.accelerator != .tcg {
            if advertisesKVM {
                do {
                    let result = try probe.probe(connection: connection, pool: pool, domainType: "kvm", timeout: kvmProbeTimeout)
                    kvmWorks = result.works
                    notes.append("kvm: \(result.detail)")
                } catch {
                    notes.append("kvm: probe failed: \(error)")
                }
            } else {
                notes.append("kvm: not offered by this host")
            }
        }
        if settings.accelerator == .kvm {
            return (DoctorCheck(name: "accelerator", required: true, status: kvmWorks ? .pass : .fail,
                                detail: notes.joined(separator: "; "),
                                fix: kvmWorks ? nil : "use --accel tcg (software emulation) on this host, or fix KVM (nested virtualisation, BIOS VT-x/AMD-V)",
                                seconds: Date().timeIntervalSince(started)), kvmWorks ? .kvm : nil)
        }
        if kvmWorks {
            return (DoctorCheck(name: "accelerator", required: true, status: .pass,
                                detail: "kvm works (\(notes.joined(separator: "; ")))",
                                seconds: Date().timeIntervalSince(started)), .kvm)
        }
        var tcgWorks = false
        do {
            let result = try probe.probe(connection: connection, pool: pool, domainType: "qemu", timeout: tcgProbeTimeout)
            tcgWorks = result.works
            notes.append("tcg: \(result.detail)")
        } catch {
            notes.append("tcg: probe failed: \(error)")
        }
        let kvmBroken = advertisesKVM && settings.accelerator == .auto
        return (DoctorCheck(name: "accelerator", required: true,
                            status: tcgWorks ? (kvmBroken ? .warn : .pass) : .fail,
                            detail: notes.joined(separator: "; "),
                            fix: tcgWorks ? (kvmBroken ? "KVM is advertised but its guests hang here: run lcm with --accel tcg (or LCM_ACCEL=tcg); guests will be slow" : nil)
                                          : "no accelerator runs guests: install qemu-system-x86 and check libvirtd's log",
                            seconds: Date().timeIntervalSince(started)), tcgWorks ? .tcg : nil)
    }

    func firmwareCheck(connection: Connection, accelerator: Accelerator?) -> DoctorCheck {
        timedCheck(name: "uefi firmware") {
            let caps = try connection.domainCapabilitiesXML(emulatorBinary: nil, arch: "x86_64", machine: "q35",
                                                            virtType: (accelerator ?? .tcg).domainType)
            let loaders = CapabilitiesText.values(in: caps, section: "loader").filter { $0.hasPrefix("/") }
            let ovmf = loaders.filter { $0.contains("OVMF") || $0.contains("edk2") }
            guard !ovmf.isEmpty else {
                return DoctorCheck(name: "uefi firmware", required: true, status: .fail,
                                   detail: "libvirt offers no UEFI loader for q35", fix: "install the ovmf package on the device")
            }
            // Deploy turns Secure Boot on by default and refuses a device without it (same rule).
            guard DeviceCheck.offersSecureBoot(domainCapabilities: caps) else {
                return DoctorCheck(name: "uefi firmware", required: true, status: .warn,
                                   detail: "\(ovmf.count) OVMF loader(s), e.g. \(ovmf[0]); no Secure Boot firmware",
                                   fix: "install a Secure Boot build of OVMF with Microsoft's keys (Debian: ovmf), or deploy with --no-secure-boot")
            }
            return DoctorCheck(name: "uefi firmware", required: true, status: .pass,
                               detail: "\(ovmf.count) OVMF loader(s), e.g. \(ovmf[0]); Secure Boot available")
        }
    }

    func tpmCheck(connection: Connection, accelerator: Accelerator?) -> DoctorCheck {
        timedCheck(name: "tpm") {
            let caps = try connection.domainCapabilitiesXML(emulatorBinary: nil, arch: "x86_64", machine: "q35",
                                                            virtType: (accelerator ?? .tcg).domainType)
            let hasEmulator = caps.contains("<tpm supported='yes'>") && CapabilitiesText.values(in: caps, section: "tpm").contains("emulator")
            guard hasEmulator else {
                return DoctorCheck(name: "tpm", required: true, status: .fail,
                                   detail: "libvirt offers no emulated TPM", fix: "install swtpm and swtpm-tools on the device, then restart libvirtd")
            }
            return DoctorCheck(name: "tpm", required: true, status: .pass, detail: "emulated TPM 2.0 (swtpm) available")
        }
    }

    func applianceCheck(accelerator: Accelerator) -> DoctorCheck {
        if quick {
            return DoctorCheck(name: "libguestfs appliance", required: true, status: .skip, detail: "not launched (--quick)")
        }
        return timedCheck(name: "libguestfs appliance") {
            let started = Date()
            // libguestfs wants at least one drive: a 1 MiB empty scratch file, read-only.
            let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("lcm-doctor-\(getpid()).img")
            guard FileManager.default.createFile(atPath: scratch.path, contents: nil), truncate(scratch.path, 1 << 20) == 0 else {
                throw LCMError(.cannotWrite, "cannot create a scratch file in \(NSTemporaryDirectory())")
            }
            defer { unlink(scratch.path) }
            let session = try GuestfsSession(backend: "direct", backendSettings: accelerator == .kvm ? [] : GuestfsSession.tcgBackendSettings,
                                             callTimeout: 300)
            try session.addDrive(path: scratch.path, format: "raw", readonly: true)
            try session.launch()
            try session.shutdown()
            let seconds = Date().timeIntervalSince(started)
            return DoctorCheck(name: "libguestfs appliance", required: true, status: .pass,
                               detail: String(format: "launched in %.1f s (%@)", seconds, accelerator == .kvm ? "kvm" : "tcg"))
        } fix: {
            "install libguestfs-tools and linux-image-amd64 (the appliance needs a host kernel); `libguestfs-test-tool` shows details"
        }
    }

    func homeCheck() -> DoctorCheck {
        let home = settings.home
        var probePath = home.url
        while !FileManager.default.fileExists(atPath: probePath.path), probePath.path != "/" {
            probePath = probePath.deletingLastPathComponent()
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: probePath.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return DoctorCheck(name: "lcm home", required: true, status: .fail,
                               detail: "\(home.path) cannot be created: \(probePath.path) is not a directory",
                               fix: "choose a writable location with --home or LCM_HOME")
        }
        guard access(probePath.path, W_OK) == 0 else {
            return DoctorCheck(name: "lcm home", required: true, status: .fail,
                               detail: "\(home.path) is not writable (\(probePath.path): \(String(cString: strerror(errno))))",
                               fix: "choose a writable location with --home or LCM_HOME")
        }
        var stats = statvfs()
        guard statvfs(probePath.path, &stats) == 0 else {
            return DoctorCheck(name: "lcm home", required: true, status: .fail, detail: "cannot stat \(probePath.path)")
        }
        let freeGiB = Double(stats.f_bavail) * Double(stats.f_frsize) / 1_073_741_824
        let status: DoctorCheck.Status = freeGiB < 5 ? .warn : .pass
        return DoctorCheck(name: "lcm home", required: true, status: status,
                           detail: String(format: "%@ writable%@, %.1f GiB free", home.path, home.exists ? "" : " (will be created)", freeGiB),
                           fix: status == .warn ? "the image store needs space: free some or move --home" : nil)
    }

    func databaseCheck() -> DoctorCheck {
        let status = Inventory.schemaStatus(home: settings.home)
        if !status.exists {
            return DoctorCheck(name: "inventory", required: false, status: .pass, detail: status.detail)
        }
        return DoctorCheck(name: "inventory", required: true, status: status.current ? .pass : .fail, detail: status.detail,
                           fix: status.current ? nil : "see the message; an lcm command applies pending migrations")
    }

    // MARK: - Helpers

    private func timed<T>(name: String, _ body: () -> (DoctorCheck, T)) -> (DoctorCheck, T) {
        let started = Date()
        var (check, value) = body()
        check.seconds = Date().timeIntervalSince(started)
        return (check, value)
    }

    private func timedCheck(name: String, _ body: () throws -> DoctorCheck, fix: () -> String? = { nil }) -> DoctorCheck {
        let started = Date()
        var check: DoctorCheck
        do {
            check = try body()
        } catch {
            check = DoctorCheck(name: name, required: true, status: .fail, detail: "\(error)", fix: fix())
        }
        check.seconds = Date().timeIntervalSince(started)
        return check
    }
}

/// Minimal reading of libvirt capability XML: the `<value>` texts inside a named element.
enum CapabilitiesText {
    static func values(in xml: String, section: String) -> [String] {
        // `section` may carry attributes ("enum name='secure'"); the closing tag is its element name.
        let element = section.split(separator: " ").first.map(String.init) ?? section
        guard let start = xml.range(of: "<\(section)"), let end = xml.range(of: "</\(element)>", range: start.upperBound..<xml.endIndex) else {
            return []
        }
        let body = xml[start.upperBound..<end.lowerBound]
        var values: [String] = []
        var rest = body[...]
        while let open = rest.range(of: "<value>"), let close = rest.range(of: "</value>", range: open.upperBound..<rest.endIndex) {
            values.append(String(rest[open.upperBound..<close.lowerBound]))
            rest = rest[close.upperBound...]
        }
        return values
    }
}
