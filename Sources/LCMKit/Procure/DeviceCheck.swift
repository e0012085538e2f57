import Foundation
import GRDB
import Libvirt

/// What lcm measured on a device through libvirt (local or remote, the same calls).
public struct DeviceFacts: Codable, Sendable, Equatable {
    public var uri: String
    public var hypervisor: String
    public var architecture: String
    public var cpus: Int
    public var cpuTopology: String
    /// Usable memory as the host reports it.
    public var memoryBytes: UInt64
    public var cpuModel: String?
    /// Virtualisation flags among the host CPU's features ("vmx", "svm").
    public var virtualizationFlags: [String]
    /// nil when libvirt does not report it (before 8.x).
    public var iommu: Bool?
    /// Domain types libvirt offers ("kvm", "qemu").
    public var domainTypes: [String]
    public var tpmSupported: Bool
    public var tpmBackends: [String]
    public var tpmVersions: [String]
    public var tpmModels: [String]
    public var firmware: [String]
    public var loaders: [String]
    public var secureBoot: Bool
    public var pool: String?
    public var poolAvailableBytes: UInt64?
    public var probes: [Probe]

    /// One accelerator probe boot.
    public struct Probe: Codable, Sendable, Equatable {
        /// libvirt domain type: "kvm" or "qemu" (TCG).
        public var domainType: String
        public var works: Bool
        public var seconds: Double
        public var detail: String
    }
}

/// One row of `lcm procure check`: a requirement, what was required, what was measured.
public struct DeviceCheckRow: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case pass, fail
        /// Measured, but the profile does not require it.
        case info
    }
    public var requirement: String
    public var required: String
    public var measured: String
    public var status: Status
}

/// The result of checking a device against a profile; `qualifies` decides the exit code.
public struct DeviceCheckReport: Codable, Sendable, Equatable {
    public var profile: String
    public var device: String?
    public var uri: String
    public var qualifies: Bool
    public var rows: [DeviceCheckRow]
    public var facts: DeviceFacts

    public var table: ReportTable {
        ReportTable(columns: ["requirement", "required", "measured", "result"],
                    rows: rows.map { [.text($0.requirement), .text($0.required), .text($0.measured), .text($0.status.rawValue)] })
    }
}

/// Checks a client device against a requirement profile through libvirt: host capabilities (CPU
/// features, IOMMU), node info (CPUs, memory), domain capabilities (TPM, UEFI, Secure Boot), the
/// storage pool's free space, and, unless told not to, a probe boot proving the accelerator works.
public struct DeviceCheck: Sendable {
    public var profile: RequirementProfile
    public var uri: String
    /// `--no-probe` overrides the profile's `probe: true`.
    public var probe: Bool
    /// The `--accel` setting: with `any`, tcg/kvm limit the probe to that accelerator.
    public var accelerator: Accelerator
    public var kvmProbeTimeout: Double = 8
    public var tcgProbeTimeout: Double = 90

    /// Memory a host reports is what the kernel can use, a few percent below what is installed:
    /// a 16 GiB laptop shows about 15.5 GiB. This allowance keeps such a device qualifying.
    public static let memoryAllowance = 0.95

    /// How the device is reached (its failure is exit 69).
    public var connections: ConnectionFactory = .libvirt

    public init(profile: RequirementProfile, uri: String, probe: Bool = true, accelerator: Accelerator = .auto) {
        self.profile = profile; self.uri = uri; self.probe = probe; self.accelerator = accelerator
    }

    /// The check as a command runs it: `--accel` and the connections from the context.
    public init(context: LCMContext, profile: RequirementProfile, uri: String, probe: Bool = true) {
        self.init(profile: profile, uri: uri, probe: probe, accelerator: context.settings.accelerator)
        connections = context.connections
    }

    public func run(device: String? = nil) throws -> DeviceCheckReport {
        let facts = try gather()
        let rows = Self.evaluate(profile, facts: facts)
        return DeviceCheckReport(profile: profile.name, device: device, uri: facts.uri,
                                 qualifies: !rows.contains { $0.status == .fail }, rows: rows, facts: facts)
    }

    /// Which probes to boot, in order: the profile's accelerator requirement narrowed by `--accel`.
    func plannedProbes(advertised: Set<String>) -> [String] {
        guard profile.requires.probe && probe else { return [] }
        switch profile.requires.accelerator {
        case .none: return []
        case .kvm: return advertised.contains("kvm") ? ["kvm"] : []
        case .tcg: return ["qemu"]
        case .any:
            switch accelerator {
            case .tcg: return ["qemu"]
            case .kvm: return advertised.contains("kvm") ? ["kvm"] : []
            case .auto: return advertised.contains("kvm") ? ["kvm", "qemu"] : ["qemu"]
            }
        }
    }

    func gather() throws -> DeviceFacts {
        // The probe reads its console without blocking: that needs libvirt's event loop, started
        // before the connection opens.
        try EventLoop.start()
        let connection = try connections.connect(uri)
        do {
            return try gather(connection)
        } catch let error as LibvirtError {
            throw LCMError(.unavailable, "libvirt at \(uri) failed while checking: \(error.message)",
                           hint: "check libvirtd's log on the device")
        }
    }

    func gather(_ connection: Connection) throws -> DeviceFacts {
        let node = try connection.nodeInfo()
        let caps = try HostCapabilities(xml: try connection.capabilitiesXML(), what: "the host's capabilities")
        let domainTypes = Array(Set(caps.guestDomainTypes)).sorted()
        let arch = caps.cpuArch ?? node.model

        let virtType = Self.domainCapsType(requirement: profile.requires.accelerator, setting: accelerator, advertised: Set(domainTypes))
        let domCaps = try DomainCapabilities(xml: try connection.domainCapabilitiesXML(emulatorBinary: nil, arch: arch, machine: arch == "x86_64" ? "q35" : nil,
                                                                                       virtType: virtType),
                                             what: "the domain capabilities")
        let tpm = domCaps.tpm

        var facts = DeviceFacts(
            uri: (try? connection.uri) ?? uri,
            hypervisor: "\((try? connection.hypervisorType) ?? "?") \((try? connection.hypervisorVersion) ?? "?"), libvirt \((try? connection.libraryVersion) ?? "?")",
            architecture: arch, cpus: Int(node.cpus),
            cpuTopology: "\(node.sockets * node.nodes) socket(s) x \(node.cores) core(s) x \(node.threads) thread(s)",
            memoryBytes: node.memoryKiB * 1024, cpuModel: caps.cpuModel,
            virtualizationFlags: caps.cpuFeatures.filter { $0 == "vmx" || $0 == "svm" }, iommu: caps.iommuSupported, domainTypes: domainTypes,
            tpmSupported: tpm?.supported == true,
            tpmBackends: tpm?.values(of: "backendModel") ?? [], tpmVersions: tpm?.values(of: "backendVersion") ?? [],
            tpmModels: tpm?.values(of: "model") ?? [],
            firmware: domCaps.os?.values(of: "firmware") ?? [],
            loaders: domCaps.loader?.values.filter { $0.hasPrefix("/") } ?? [],
            secureBoot: domCaps.offersSecureBoot,
            pool: nil, poolAvailableBytes: nil, probes: [])

        // Free space: lcm's pool where it exists, else libvirt's default pool; created only when the
        // probe needs somewhere to put its kernel.
        let planned = plannedProbes(advertised: Set(domainTypes))
        var pool = try connection.lookupStoragePool(name: DeviceStoragePool.name) ?? connection.lookupStoragePool(name: "default")
        if pool == nil && !planned.isEmpty { pool = try DeviceStoragePool.ensure(on: connection).pool }
        if let found = pool {
            if try !found.isActive { try found.create() }
            try found.refresh()
            facts.pool = try found.name
            facts.poolAvailableBytes = try found.info().available
        }

        for domainType in planned {
            guard let pool else { break }
            let timeout = domainType == "kvm" ? kvmProbeTimeout : tcgProbeTimeout
            do {
                let result = try AcceleratorProbe().probe(connection: connection, pool: pool, domainType: domainType, timeout: timeout)
                facts.probes.append(.init(domainType: domainType, works: result.works, seconds: result.seconds, detail: result.detail))
                if result.works { break } // one working accelerator answers "any"; kvm is tried first
            } catch {
                // A device that went away measured nothing: that is not a failed requirement.
                if let error = error as? LibvirtError, error.isConnectionFailure || !connection.isAlive { throw error }
                facts.probes.append(.init(domainType: domainType, works: false, seconds: 0, detail: "probe failed: \(error)"))
            }
        }
        guard connection.isAlive else {
            throw LCMError(.unavailable, "libvirt at \(uri) went away while checking; nothing was recorded",
                           hint: "check that libvirtd runs on the device, then check it again")
        }
        return facts
    }

    /// Whether a device's domain capabilities (`virConnectGetDomainCapabilities` for q35) offer
    /// UEFI Secure Boot (`DomainCapabilities.offersSecureBoot`): the one rule `procure check`,
    /// `lcm doctor` and deploy share. A document lcm cannot read offers nothing.
    public static func offersSecureBoot(domainCapabilities xml: String) -> Bool {
        (try? DomainCapabilities(xml: xml, what: "the domain capabilities"))?.offersSecureBoot ?? false
    }

    static func domainCapsType(requirement: AcceleratorRequirement, setting: Accelerator, advertised: Set<String>) -> String {
        if requirement == .kvm || setting == .kvm { return advertised.contains("kvm") ? "kvm" : "qemu" }
        if requirement == .tcg || setting == .tcg { return "qemu" }
        return advertised.contains("kvm") ? "kvm" : "qemu"
    }

    /// What `lcm procure check` checks: the profile, the URI and the device (if one was named).
    public struct Target: Sendable {
        public var profile: RequirementProfile
        public var uri: String
        public var device: String?
    }

    /// Resolves `check [DEVICE] [--profile P] [--connect URI]`: a named device gives its stored URI
    /// (unless --connect overrides it) and its profile (unless --profile does).
    public static func target(_ db: Database, device: String?, profile: String?, connect: String?,
                              defaultURI: String) throws -> Target {
        var uri = connect ?? defaultURI
        var profileName = profile
        var tag: String?
        if let device {
            let found = try DeviceLifecycle.find(db, device)
            tag = found.assetTag
            if connect == nil {
                guard let stored = found.libvirtURI else {
                    throw LCMError(.usage, "device \(found.assetTag) has no libvirt URI",
                                   hint: "set one with `lcm procure update \(found.assetTag) --uri URI`, or pass --connect")
                }
                uri = stored
            }
            if profileName == nil, let id = found.profileID {
                profileName = try String.fetchOne(db, sql: "SELECT name FROM profile WHERE id = ?", arguments: [id])
            }
        }
        guard let profileName else {
            throw LCMError(.usage, "no profile to check against", hint: "pass --profile NAME (`lcm procure profile list` shows them)")
        }
        return Target(profile: try Profiles.load(db, name: profileName), uri: uri, device: tag)
    }

    /// Records a device's check result in the audit log (it changes nothing else).
    public static func record(_ db: Database, _ report: DeviceCheckReport, actor: AuditActor) throws {
        guard let device = report.device else { return }
        try AuditLog.record(db, actor: actor, objectKind: "device", objectID: device, action: "check",
                            outcome: report.qualifies ? "pass" : "fail",
                            details: ["profile": report.profile, "uri": report.uri,
                                      "failed": report.rows.filter { $0.status == .fail }.map(\.requirement).joined(separator: ", ")])
    }

    // MARK: - Evaluation (pure: tested with recorded facts)

    public static func evaluate(_ profile: RequirementProfile, facts: DeviceFacts) -> [DeviceCheckRow] {
        let r = profile.requires
        var rows: [DeviceCheckRow] = []
        func row(_ name: String, required: String?, measured: String, passes: Bool) {
            rows.append(DeviceCheckRow(requirement: name, required: required ?? "-", measured: measured,
                                       status: required == nil ? .info : (passes ? .pass : .fail)))
        }

        let archMatches = r.architecture.map { normalizeArch($0) == normalizeArch(facts.architecture) } ?? true
        row("architecture", required: r.architecture, measured: facts.architecture, passes: archMatches)

        row("cpus", required: r.cpus.map { "at least \($0)" }, measured: "\(facts.cpus) (\(facts.cpuTopology))",
            passes: facts.cpus >= (r.cpus ?? 0))

        let memoryOK = r.memoryBytes.map { Double(facts.memoryBytes) >= Double($0) * memoryAllowance } ?? true
        row("memory", required: r.memoryBytes.map { "at least \(ByteSize.format($0)) (usable >= \(ByteSize.format(UInt64(Double($0) * memoryAllowance))))" },
            measured: "\(ByteSize.format(facts.memoryBytes)) usable", passes: memoryOK)

        let diskMeasured = facts.poolAvailableBytes.map { "\(ByteSize.format($0)) free in pool '\(facts.pool ?? "?")'" }
            ?? "no storage pool '\(DeviceStoragePool.name)' or 'default' on the device"
        row("disk", required: r.diskBytes.map { "at least \(ByteSize.format($0)) free" }, measured: diskMeasured,
            passes: facts.poolAvailableBytes.map { $0 >= (r.diskBytes ?? 0) } ?? (r.diskBytes == nil))

        let virtMeasured = facts.virtualizationFlags.isEmpty
            ? "no vmx/svm in host CPU features" + (facts.cpuModel.map { " (CPU model \($0))" } ?? "")
            : facts.virtualizationFlags.joined(separator: ", ")
        row("cpu virtualization", required: r.cpuVirtualization ? "vmx (Intel VT-x) or svm (AMD-V)" : nil,
            measured: virtMeasured, passes: !facts.virtualizationFlags.isEmpty)

        row("iommu", required: r.iommu ? "supported" : nil,
            measured: facts.iommu.map { $0 ? "supported" : "not supported (or not enabled in firmware/kernel)" } ?? "not reported by this libvirt",
            passes: facts.iommu == true)

        let hasEmulator = facts.tpmSupported && facts.tpmBackends.contains("emulator")
        let has20 = facts.tpmVersions.isEmpty || facts.tpmVersions.contains("2.0")
        let tpmMeasured: String
        if !facts.tpmSupported {
            tpmMeasured = "libvirt offers no TPM device"
        } else if !hasEmulator {
            tpmMeasured = "no emulated TPM (backends: \(facts.tpmBackends.joined(separator: ", ")); install swtpm)"
        } else {
            let versions = facts.tpmVersions.isEmpty ? "version not reported" : "versions \(facts.tpmVersions.joined(separator: ", "))"
            tpmMeasured = "emulated TPM (swtpm), \(versions), models \(facts.tpmModels.joined(separator: ", "))"
        }
        row("tpm 2.0", required: r.tpm2 ? "emulated TPM 2.0 for guests" : nil, measured: tpmMeasured, passes: hasEmulator && has20)

        let uefiLoaders = facts.loaders.filter { $0.contains("OVMF") || $0.contains("edk2") || $0.contains("AAVMF") }
        let hasUEFI = facts.firmware.contains("efi") || !uefiLoaders.isEmpty
        let uefiMeasured = hasUEFI
            ? "UEFI: \(uefiLoaders.count) loader(s)" + (uefiLoaders.first.map { ", e.g. \($0)" } ?? "")
            : "no UEFI firmware offered (install ovmf)"
        row("uefi", required: r.uefi ? "UEFI firmware for guests" : nil, measured: uefiMeasured, passes: hasUEFI)

        let secureLoaders = facts.loaders.filter { $0.contains("secboot") || $0.contains(".ms.") }
        let secureMeasured = facts.secureBoot && hasUEFI
            ? "available" + (secureLoaders.first.map { " (\(($0 as NSString).lastPathComponent))" } ?? "")
            : "not available"
        row("secure boot", required: r.secureBoot ? "available" : nil, measured: secureMeasured, passes: facts.secureBoot && hasUEFI)

        rows.append(acceleratorRow(r, facts: facts))
        return rows
    }

    static func acceleratorRow(_ r: RequirementProfile.Requirements, facts: DeviceFacts) -> DeviceCheckRow {
        let advertised = facts.domainTypes.filter { $0 == "kvm" || $0 == "qemu" }
        let names = ["kvm": "kvm", "qemu": "tcg"]
        let advertisedText = "libvirt offers " + (advertised.isEmpty ? "none" : advertised.map { names[$0] ?? $0 }.joined(separator: ", "))
        let required: String?
        switch r.accelerator {
        case .none: required = nil
        case .any: required = "kvm or tcg runs a guest"
        case .kvm: required = "kvm runs a guest"
        case .tcg: required = "tcg runs a guest"
        }
        let measured: String
        let works: Set<String>
        if facts.probes.isEmpty {
            // Not probed: only what libvirt advertises, which a host with broken KVM also advertises.
            measured = advertisedText + (r.accelerator == .none ? "" : " (not booted: probe disabled)")
            works = Set(advertised)
        } else {
            measured = facts.probes.map { "\(names[$0.domainType] ?? $0.domainType): \($0.detail)" }.joined(separator: "; ")
            works = Set(facts.probes.filter(\.works).map(\.domainType))
        }
        let passes: Bool
        switch r.accelerator {
        case .none: passes = true
        case .any: passes = !works.isEmpty
        case .kvm: passes = works.contains("kvm")
        case .tcg: passes = works.contains("qemu")
        }
        return DeviceCheckRow(requirement: "accelerator", required: required ?? "-", measured: measured,
                              status: required == nil ? .info : (passes ? .pass : .fail))
    }

    static func normalizeArch(_ arch: String) -> String {
        switch arch.lowercased() {
        case "amd64", "x86-64", "x64": "x86_64"
        case "arm64": "aarch64"
        default: arch.lowercased()
        }
    }
}
