import Foundation
import Libvirt

/// The generic virtual hardware of a deployed desktop and the libvirt domain XML for it.
///
/// The XML names nothing that depends on the device's file layout except the disk paths: the
/// firmware is chosen by libvirt (`<os firmware='efi'>`) and the NVRAM is created from the
/// firmware's template at libvirt's default place, so the same definition works on a local and a
/// remote device. Call `xml()` to validate and render; every user-supplied string is escaped.
public struct DesktopDomain: Sendable, Equatable {
    /// libvirt's domain type: hardware virtualisation or software emulation (TCG).
    public enum DomainType: String, Sendable, Equatable, CaseIterable {
        case kvm, qemu

        /// The domain type for a resolved accelerator; `auto` must be resolved first
        /// (`Accelerator.resolved(home:)`), since guessing would put a desktop on slow emulation.
        public init(_ accelerator: Accelerator) throws {
            switch accelerator {
            case .kvm: self = .kvm
            case .tcg: self = .qemu
            case .auto:
                throw LCMError(.usage, "the accelerator 'auto' has not been resolved for this device",
                               hint: "run 'lcm doctor' on the device first, or pass --accel kvm (or tcg)")
            }
        }
    }

    /// The bus a disk is attached to. SATA is the fallback for an image without virtio storage
    /// drivers (Windows would stop with INACCESSIBLE_BOOT_DEVICE on a virtio disk).
    public enum DiskBus: String, Sendable, Equatable, CaseIterable {
        case virtio, sata

        /// Prefix of the guest device names libvirt expects on this bus (vda, sda).
        var targetPrefix: String { self == .virtio ? "vd" : "sd" }
    }

    /// One qcow2 disk of the desktop; the first in `disks` is the boot disk.
    public struct Disk: Sendable, Equatable {
        /// The image's path on the device (where libvirt evaluates the XML).
        public var path: String
        public var bus: DiskBus
        /// The libvirt secret (on the device) that unlocks the image's LUKS layer, if it is encrypted.
        public var luksSecretUUID: String?
        /// Pass the guest's TRIM through, so space freed in Windows is freed in the qcow2 file.
        public var discard: Bool
        /// The guest device name; nil numbers the disks per bus (vda, vdb, ... / sda, sdb, ...).
        public var target: String?
        /// The layers below `path`, top first, when any of them is encrypted: libvirt cannot probe
        /// the secret of an encrypted backing file, so the chain is spelled out. Empty: probed.
        public var backingChain: [Layer]

        public init(path: String, bus: DiskBus = .virtio, luksSecretUUID: String? = nil,
                    discard: Bool = true, target: String? = nil, backingChain: [Layer] = []) {
            self.path = path
            self.bus = bus
            self.luksSecretUUID = luksSecretUUID
            self.discard = discard
            self.target = target
            self.backingChain = backingChain
        }
    }

    /// One backing layer of a disk.
    public struct Layer: Sendable, Equatable {
        public var path: String
        public var format: String
        public var luksSecretUUID: String?
        public init(path: String, format: String = "qcow2", luksSecretUUID: String? = nil) {
            self.path = path; self.format = format; self.luksSecretUUID = luksSecretUUID
        }
    }

    /// Where the desktop's network card is plugged in on the device.
    public enum NetworkSource: Sendable, Equatable {
        /// A libvirt virtual network by name ("default" is libvirt's NAT network).
        case network(String)
        /// An existing Linux bridge on the device, e.g. "br0" (the desktop gets a LAN address).
        case bridge(String)
    }

    /// The emulated network card. e1000e is the fallback for an image without NetKVM.
    public enum NetworkModel: String, Sendable, Equatable, CaseIterable {
        case virtio, e1000e
    }

    public struct Network: Sendable, Equatable {
        public var source: NetworkSource
        public var model: NetworkModel
        /// A fixed MAC address (for DHCP reservations); nil lets libvirt pick and keep one.
        public var macAddress: String?

        public init(source: NetworkSource = .network("default"), model: NetworkModel = .virtio,
                    macAddress: String? = nil) {
            self.source = source
            self.model = model
            self.macAddress = macAddress
        }
    }

    /// The remote display. Either way it listens on the device's loopback only: an admin reaches
    /// it through an SSH tunnel, never over the network unauthenticated.
    public enum Graphics: String, Sendable, Equatable, CaseIterable {
        case vnc, spice
    }

    /// A TPM 2.0 emulated by swtpm on the device (Windows 11 requires one).
    public struct TPM: Sendable, Equatable {
        /// A libvirt secret of usage type vtpm; swtpm then keeps the TPM state encrypted under it
        /// (see `DesktopKey.installTPMSecret`). nil keeps the state in clear on the device.
        public var encryptionSecretUUID: String?

        public init(encryptionSecretUUID: String? = nil) {
            self.encryptionSecretUUID = encryptionSecretUUID
        }
    }

    /// The domain name on the device: a desktop name (`NameRule.desktop`).
    public var name: String
    /// The domain's UUID (any case; rendered lower-case). swtpm's state directory is named after it.
    public var uuid: String
    /// A one-line label shown by virsh and virt-manager, e.g. the user's full name. Free text:
    /// line breaks and other control characters become spaces (libvirt requires one line).
    public var title: String?
    /// Free text (several lines allowed); characters XML cannot carry become U+FFFD.
    public var description: String?
    public var vcpus: Int
    public var memoryMiB: Int
    public var domainType: DomainType
    /// The first disk is the boot disk.
    public var disks: [Disk]
    /// nil: no network card.
    public var network: Network?
    /// nil: no TPM (Windows 11 refuses to install or upgrade without one).
    public var tpm: TPM?
    /// UEFI Secure Boot with Microsoft's keys enrolled (libvirt picks a firmware and VARS template
    /// that have both; SMM protects the variable store). On by default: Windows 11 expects it, and
    /// BitLocker binds to it. Off only where the device's firmware cannot do it and the admin said so.
    public var secureBoot: Bool
    public var graphics: Graphics

    public init(name: String, uuid: String = UUID().uuidString.lowercased(), title: String? = nil,
                description: String? = nil, vcpus: Int = 2, memoryMiB: Int = 4096, domainType: DomainType,
                disks: [Disk], network: Network? = Network(), tpm: TPM? = TPM(), secureBoot: Bool = true,
                graphics: Graphics = .vnc) {
        self.name = name
        self.uuid = uuid
        self.title = title
        self.description = description
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.domainType = domainType
        self.disks = disks
        self.network = network
        self.tpm = tpm
        self.secureBoot = secureBoot
        self.graphics = graphics
    }

    /// The storage bus and network card an image can run on, from its inspection: virtio where
    /// it has the drivers, SATA and e1000e where it does not.
    public static func hardware(for drivers: VirtioDriverState) -> (bus: DiskBus, network: NetworkModel) {
        (drivers.hasStorageDriver ? .virtio : .sata, drivers.hasNetworkDriver ? .virtio : .e1000e)
    }

    // MARK: - Validation

    /// A hostile string made safe to print in a message: control characters escaped, long ones cut.
    static func shown(_ text: String) -> String {
        let cut = text.count > 40 ? String(text.prefix(40)) + "..." : text
        return cut.debugDescription
    }

    /// A canonical (lower-case) UUID, or a usage error naming the field.
    static func canonicalUUID(_ text: String, what: String) throws -> String {
        guard let uuid = UUID(uuidString: text) else {
            throw LCMError(.usage, "\(what) \(shown(text)) is not a UUID",
                           hint: "give it in the form 8-4-4-4-12 hexadecimal digits, e.g. \(UUID().uuidString.lowercased())")
        }
        return uuid.uuidString.lowercased()
    }

    /// Rejects an empty value or one with control characters or '/', for names libvirt and the
    /// kernel use as identifiers (network, bridge).
    static func validateIdentifier(_ value: String, what: String, maximumLength: Int) throws {
        let rule = "use 1 to \(maximumLength) characters without spaces, '/' or control characters"
        guard !value.isEmpty, value.unicodeScalars.count <= maximumLength else {
            throw LCMError(.usage, "\(what) \(shown(value)) must have 1 to \(maximumLength) characters", hint: rule)
        }
        if let bad = value.unicodeScalars.first(where: {
            $0 == "/" || $0 == " " || $0.properties.generalCategory == .control
        }) {
            throw LCMError(.usage, "\(what) \(shown(value)) contains \(NameRule.describe(bad))", hint: rule)
        }
    }

    /// The guest device names of the disks, in order.
    func diskTargets() throws -> [String] {
        var next: [DiskBus: Int] = [:]
        var targets: [String] = []
        for disk in disks {
            let target: String
            if let explicit = disk.target {
                // Only names libvirt maps to the bus ("vdb" on virtio, "sdc" on SATA).
                let suffix = explicit.dropFirst(2)
                guard explicit.hasPrefix(disk.bus.targetPrefix), !suffix.isEmpty, suffix.count <= 3,
                      suffix.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) }) else {
                    throw LCMError(.usage, "disk target \(Self.shown(explicit)) does not fit bus \(disk.bus.rawValue)",
                                   hint: "use \(disk.bus.targetPrefix) followed by letters, e.g. \(disk.bus.targetPrefix)b, or leave it unset")
                }
                target = explicit
            } else {
                let index = next[disk.bus, default: 0]
                next[disk.bus] = index + 1
                target = disk.bus.targetPrefix + Self.driveLetters(index)
            }
            guard !targets.contains(target) else {
                throw LCMError(.usage, "two disks use the guest device name \(target)",
                               hint: "give each disk its own target, or leave targets unset")
            }
            targets.append(target)
        }
        return targets
    }

    /// a, b, ..., z, aa, ab, ... (the kernel's sd/vd naming).
    static func driveLetters(_ index: Int) -> String {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        var index = index
        var result = ""
        repeat {
            result = String(letters[index % 26]) + result
            index = index / 26 - 1
        } while index >= 0
        return result
    }

    // MARK: - XML

    /// Validates every field and renders the domain XML; throws `LCMError(.usage, ...)` naming the
    /// first bad field.
    public func xml() throws -> String {
        try definition().xml
    }

    /// Validates every field and builds the libvirt domain lcm defines for this desktop.
    public func definition() throws -> DomainDefinition {
        try NameRule.desktop.validate(name)
        let uuid = try Self.canonicalUUID(uuid, what: "the domain UUID")
        guard vcpus >= 1, vcpus <= 255 else {
            throw LCMError(.usage, "a desktop needs 1 to 255 virtual CPUs, not \(vcpus)")
        }
        guard memoryMiB >= 64 else {
            throw LCMError(.usage, "a desktop needs at least 64 MiB of memory, not \(memoryMiB) MiB",
                           hint: "Windows 11 needs 4096 MiB")
        }
        guard !disks.isEmpty else {
            throw LCMError(.usage, "a desktop needs at least one disk (its boot disk)")
        }
        let targets = try diskTargets()
        var devices = DomainDevices()
        for (index, disk) in disks.enumerated() {
            devices.disks.append(try Self.diskDefinition(disk, target: targets[index], bootOrder: index == 0 ? 1 : nil))
        }
        if let network { devices.interfaces = [try Self.interfaceDefinition(network)] }
        devices.channels = [.init(type: "unix", targetType: "virtio", targetName: "org.qemu.guest_agent.0")]
        devices.serials = [.init(type: "pty", targetPort: "0")]
        devices.consoles = [.init(type: "pty", targetType: "serial", targetPort: "0")]
        // The listen address is fixed, never user input: loopback only.
        devices.graphics = [.init(type: graphics.rawValue, autoport: true, listen: "127.0.0.1", listenAddresses: ["127.0.0.1"])]
        // Plain VGA: Windows' basic display driver runs it without extra drivers.
        devices.videos = ["vga"]
        devices.inputs = [.init(type: "tablet", bus: "usb")]
        if let tpm {
            devices.tpms = [TPMDefinition(encryptionSecretUUID: try tpm.encryptionSecretUUID.map { try Self.canonicalUUID($0, what: "the vTPM secret") })]
        }
        devices.memoryBalloon = "virtio"
        devices.randomNumberGenerators = [.init(model: "virtio", backendModel: "random", source: "/dev/urandom")]
        let isKVM = domainType == .kvm
        devices.panics = isKVM ? ["isa", "hyperv"] : ["isa"]

        // No <nvram> path: libvirt creates <name>_VARS.fd from the chosen firmware's template at its
        // own place on the device, and removes it with VIR_DOMAIN_UNDEFINE_NVRAM.
        let os = DomainDefinition.OS(firmware: "efi", arch: "x86_64", machine: "q35", firmwareFeatures: [
            .init(name: "secure-boot", enabled: secureBoot), .init(name: "enrolled-keys", enabled: secureBoot),
        ])
        // The Secure Boot firmware builds need SMM to protect their variable store.
        let features = DomainDefinition.Features(smm: secureBoot ? true : nil, hyperv: isKVM ? Self.hypervEnlightenments : nil)
        let cpu = isKVM
            ? DomainDefinition.CPU(mode: "host-passthrough", check: "none", migratable: true)
            // TCG cannot pass the host CPU through; 'maximum' is the newest model it emulates
            // (Windows 11 24H2 refuses CPUs without SSE4.2 and POPCNT, which qemu64 lacks).
            : DomainDefinition.CPU(mode: "maximum", check: "none")
        // Windows keeps the RTC in local time unless told otherwise.
        var timers: [DomainDefinition.Clock.Timer] = [
            .init(name: "rtc", tickPolicy: "catchup"), .init(name: "pit", tickPolicy: "delay"), .init(name: "hpet", present: false),
        ]
        if isKVM { timers.append(.init(name: "hypervclock", present: true)) }
        let clock = DomainDefinition.Clock(offset: "localtime", timers: timers)
        let titleText = title.map(Self.oneLine)
        return DomainDefinition(
            type: domainType.rawValue, name: name, uuid: uuid,
            title: titleText?.isEmpty == false ? titleText : nil,
            description: description?.isEmpty == false ? description : nil,
            memory: .mebibytes(memoryMiB), currentMemory: .mebibytes(memoryMiB), vcpu: .init(count: vcpus),
            os: os, features: features, cpu: cpu, clock: clock,
            onPoweroff: "destroy", onReboot: "restart", onCrash: Self.crashPolicy,
            // Sleep states only confuse a managed desktop: lcm starts and stops it.
            powerManagement: .init(suspendToMemory: false, suspendToDisk: false),
            devices: devices)
    }

    /// What happens when the guest reports a crash. QEMU's libvirt driver offers destroy, restart,
    /// preserve, coredump-destroy and coredump-restart. `preserve` keeps the crashed guest paused
    /// in libvirt's "crashed" state with its memory intact, so an admin can look at the screen and
    /// take a dump before destroying it; restart would hide crash loops, and the coredump actions
    /// would write the guest's memory (decrypted data, key material) in clear to the device's disk.
    ///
    /// A crash only reaches libvirt through a panic device: the ISA pvpanic device (port 0x505,
    /// Windows needs virtio-win's pvpanic driver for it, ACPI id QEMU0001) under any accelerator,
    /// and under KVM also the Hyper-V crash MSRs, which Windows writes its bugcheck to without a
    /// driver. Without either, a blue screen reboots inside the guest and libvirt never notices.
    /// Windows signals before it writes its own MEMORY.DMP, so under `preserve` that file is not
    /// written: take the dump from the host (`virsh dump --memory-only`) before destroying.
    static let crashPolicy = "preserve"

    /// Paravirtual interfaces Windows uses when it sees Hyper-V; KVM implements them, TCG does not.
    static let hypervEnlightenments = DomainDefinition.Features.HyperV(mode: "custom", enlightenments: [
        .init(name: "relaxed"), .init(name: "vapic"), .init(name: "spinlocks", retries: "8191"), .init(name: "vpindex"),
        .init(name: "synic"), .init(name: "stimer"), .init(name: "reset"), .init(name: "frequencies"),
    ])

    /// A `<disk>` element: qcow2, with its LUKS secret when encrypted, TRIM passed through when asked.
    public static func diskXML(_ disk: Disk, target: String, bootOrder: Int? = nil) throws -> String {
        try diskDefinition(disk, target: target, bootOrder: bootOrder).xml
    }

    /// The disk as libvirt's domain names it; paths, secrets and backing formats checked.
    public static func diskDefinition(_ disk: Disk, target: String, bootOrder: Int? = nil) throws -> DiskDefinition {
        DiskDefinition(driver: .init(format: "qcow2", discard: disk.discard ? "unmap" : nil),
                       source: try source(path: disk.path, luksSecretUUID: disk.luksSecretUUID),
                       backingChain: try backingChain(disk.backingChain), backingChainClosed: !disk.backingChain.isEmpty,
                       target: .init(device: target, bus: disk.bus.rawValue), bootOrder: bootOrder)
    }

    /// A file source, with the LUKS secret that unlocks the file when it is encrypted.
    static func source(path: String, luksSecretUUID: String?) throws -> DiskSource {
        guard path.hasPrefix("/"), !path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw LCMError(.usage, "disk path \(shown(path)) must be an absolute path without control characters")
        }
        let secret = try luksSecretUUID.map { try canonicalUUID($0, what: "the disk's LUKS secret") }
        return DiskSource(file: path, encryption: secret.map { DiskEncryption(secretUUID: $0) })
    }

    /// The backing layers (top first) as `<backingStore>` elements; a disk with any is written
    /// with the chain closed by an empty one, so libvirt probes nothing further.
    public static func backingChain(_ layers: [Layer]) throws -> [DiskDefinition.BackingStore] {
        try layers.map { layer in
            guard ["qcow2", "raw"].contains(layer.format) else {
                throw LCMError(.usage, "backing format \(shown(layer.format)) is not qcow2 or raw")
            }
            return DiskDefinition.BackingStore(format: layer.format, source: try source(path: layer.path, luksSecretUUID: layer.luksSecretUUID))
        }
    }

    static func interfaceDefinition(_ network: Network) throws -> InterfaceDefinition {
        let type: String, source: String
        switch network.source {
        case .network(let name):
            try validateIdentifier(name, what: "the libvirt network name", maximumLength: 64)
            (type, source) = ("network", name)
        case .bridge(let name):
            // Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the terminator).
            try validateIdentifier(name, what: "the bridge name", maximumLength: 15)
            (type, source) = ("bridge", name)
        }
        var mac: String?
        if let address = network.macAddress {
            let octets = address.split(separator: ":", omittingEmptySubsequences: false)
            guard octets.count == 6, octets.allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }),
                  let first = UInt8(octets[0], radix: 16), first & 1 == 0 else {
                throw LCMError(.usage, "MAC address \(shown(address)) is not a unicast address like 52:54:00:12:34:56")
            }
            mac = address.lowercased()
        }
        return InterfaceDefinition(type: type, source: source, macAddress: mac, model: network.model.rawValue)
    }

    // MARK: - Free text

    /// Title text on one line: libvirt rejects a title with a line break.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control ? " " : $0
        }))
    }

    // MARK: - Reading back

    /// The NVRAM file libvirt chose for a domain, from its XML: the live definition when it runs,
    /// else the persistent one. libvirt 9.0 resolves the firmware (and so the NVRAM path) at each
    /// start and shows it only in the live XML; later versions resolve it at define time and keep
    /// it. nil when it is not known (a 9.0 domain that is not running): the file is still removed
    /// by `undefine(removeNVRAM: true, ...)`, which derives the path itself.
    public static func nvramPath(of domain: Domain) throws -> String? {
        let xml = try domain.isActive ? domain.xmlDescription() : domain.xmlDescription(flags: .inactive)
        return try nvramPath(inDomainXML: xml)
    }

    /// The path of `<nvram>` in a domain's XML (nil when absent or without a path).
    public static func nvramPath(inDomainXML xml: String) throws -> String? {
        try DomainDefinition(xml: xml, what: "the domain's XML").os.nvram?.path
    }
}
