import Foundation

/// A libvirt domain (`<domain>`) as lcm writes and reads it: the fields lcm sets on a desktop,
/// and what it reads back (firmware loader and NVRAM libvirt chose, disks and their chains).
/// `DesktopDomain` builds one from a desktop's settings; retirement, patching and the NVRAM lookup
/// decode one from libvirt's XML. Elements lcm does not model are left out when decoding.
public struct DomainDefinition: LibvirtXMLElement {
    public static let elementName = "domain"

    /// `kvm` or `qemu` (TCG); any other type libvirt knows is kept as text.
    public var type: String
    public var name: String
    public var uuid: String?
    public var title: String?
    public var description: String?
    public var memory: Memory?
    public var currentMemory: Memory?
    public var vcpu: VCPU?
    public var os: OS
    public var features: Features?
    public var cpu: CPU?
    public var clock: Clock?
    public var onPoweroff: String?
    public var onReboot: String?
    public var onCrash: String?
    public var powerManagement: PowerManagement?
    public var devices: DomainDevices

    public init(type: String, name: String, uuid: String? = nil, title: String? = nil, description: String? = nil,
                memory: Memory? = nil, currentMemory: Memory? = nil, vcpu: VCPU? = nil, os: OS = OS(),
                features: Features? = nil, cpu: CPU? = nil, clock: Clock? = nil, onPoweroff: String? = nil,
                onReboot: String? = nil, onCrash: String? = nil, powerManagement: PowerManagement? = nil,
                devices: DomainDevices = DomainDevices()) {
        self.type = type; self.name = name; self.uuid = uuid; self.title = title; self.description = description
        self.memory = memory; self.currentMemory = currentMemory; self.vcpu = vcpu; self.os = os
        self.features = features; self.cpu = cpu; self.clock = clock
        self.onPoweroff = onPoweroff; self.onReboot = onReboot; self.onCrash = onCrash
        self.powerManagement = powerManagement; self.devices = devices
    }

    public init(element: XMLTree) throws {
        type = element.attribute("type") ?? ""
        name = element.childText("name") ?? ""
        uuid = element.childText("uuid")
        // Free text, kept exactly (a description may start or end with spaces).
        title = element.child("title").map(\.text)
        description = element.child("description").map(\.text)
        memory = try element.child("memory").map(Memory.init(element:))
        currentMemory = try element.child("currentMemory").map(Memory.init(element:))
        vcpu = try VCPU.decode(element)
        os = try OS.decode(element) ?? OS()
        features = try Features.decode(element)
        cpu = try CPU.decode(element)
        clock = try Clock.decode(element)
        onPoweroff = element.childText("on_poweroff")
        onReboot = element.childText("on_reboot")
        onCrash = element.childText("on_crash")
        powerManagement = try PowerManagement.decode(element)
        devices = try DomainDevices.decode(element) ?? DomainDevices()
    }

    public var element: XMLTree {
        var children = [XMLTree("name", text: name)]
        if let uuid { children.append(XMLTree("uuid", text: uuid)) }
        // libvirt's schema wants a non-empty title: empty text leaves the element out.
        if let title, !title.isEmpty { children.append(XMLTree("title", text: title)) }
        if let description, !description.isEmpty { children.append(XMLTree("description", text: description)) }
        if let memory { children.append(memory.element(named: "memory")) }
        if let currentMemory { children.append(currentMemory.element(named: "currentMemory")) }
        if let vcpu { children.append(vcpu.element) }
        children.append(os.element)
        if let features { children.append(features.element) }
        if let cpu { children.append(cpu.element) }
        if let clock { children.append(clock.element) }
        for (name, value) in [("on_poweroff", onPoweroff), ("on_reboot", onReboot), ("on_crash", onCrash)] {
            if let value { children.append(XMLTree(name, text: value)) }
        }
        if let powerManagement { children.append(powerManagement.element) }
        children.append(devices.element)
        return XMLTree(Self.elementName, [("type", type)], children: children)
    }

    /// An amount of memory with its unit, compared by bytes (libvirt writes KiB back).
    public struct Memory: Sendable, Equatable {
        public var value: UInt64
        public var unit: String

        public init(value: UInt64, unit: String = "KiB") { self.value = value; self.unit = unit }
        public static func mebibytes(_ value: Int) -> Memory { Memory(value: UInt64(value), unit: "MiB") }

        init(element: XMLTree) throws {
            let text = element.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let value = UInt64(text) else { throw XMLTree.invalid("<\(element.name)>\(text)</\(element.name)>", "is not a whole number") }
            self.init(value: value, unit: element.attribute("unit") ?? "KiB")
        }

        func element(named name: String) -> XMLTree { XMLTree(name, [("unit", unit)], text: String(value)) }

        /// The amount in bytes, after libvirt's units (decimal kB/MB/GB, binary k/KiB/M/MiB/G/GiB).
        public var bytes: UInt64? {
            let factors: [String: UInt64] = ["b": 1, "B": 1, "bytes": 1, "KB": 1000, "k": 1 << 10, "KiB": 1 << 10, "MB": 1_000_000,
                                             "M": 1 << 20, "MiB": 1 << 20, "GB": 1_000_000_000, "G": 1 << 30, "GiB": 1 << 30,
                                             "T": 1 << 40, "TiB": 1 << 40]
            return factors[unit].map { value * $0 }
        }

        public static func == (lhs: Memory, rhs: Memory) -> Bool {
            guard let left = lhs.bytes, let right = rhs.bytes else { return lhs.value == rhs.value && lhs.unit == rhs.unit }
            return left == right
        }
    }

    public struct VCPU: LibvirtXMLElement {
        public static let elementName = "vcpu"
        public var count: Int
        public var placement: String?
        public init(count: Int, placement: String? = "static") { self.count = count; self.placement = placement }
        public init(element: XMLTree) throws {
            guard let count = Int(element.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw XMLTree.invalid("<vcpu>\(element.text)</vcpu>", "is not a whole number")
            }
            self.init(count: count, placement: element.attribute("placement"))
        }
        public var element: XMLTree { XMLTree(Self.elementName, [("placement", placement)], text: String(count)) }
    }

    /// `<os>`: firmware (chosen by libvirt from the features asked for), machine, and what
    /// libvirt resolved: the loader and the per-domain NVRAM file with its template.
    public struct OS: LibvirtXMLElement {
        public static let elementName = "os"
        /// `efi` to let libvirt pick a UEFI build; nil for the machine's default (SeaBIOS).
        public var firmware: String?
        public var arch: String?
        public var machine: String?
        public var type: String
        public var firmwareFeatures: [FirmwareFeature]
        public var loader: Loader?
        public var nvram: NVRAM?
        public var kernel: String?
        public var commandLine: String?

        public init(firmware: String? = nil, arch: String? = "x86_64", machine: String? = nil, type: String = "hvm",
                    firmwareFeatures: [FirmwareFeature] = [], loader: Loader? = nil, nvram: NVRAM? = nil,
                    kernel: String? = nil, commandLine: String? = nil) {
            self.firmware = firmware; self.arch = arch; self.machine = machine; self.type = type
            self.firmwareFeatures = firmwareFeatures; self.loader = loader; self.nvram = nvram
            self.kernel = kernel; self.commandLine = commandLine
        }

        public init(element: XMLTree) throws {
            let type = element.child("type")
            self.init(firmware: element.attribute("firmware"), arch: type?.attribute("arch"), machine: type?.attribute("machine"),
                      type: type?.text.trimmingCharacters(in: .whitespacesAndNewlines) ?? "hvm",
                      firmwareFeatures: element.child("firmware")?.children("feature").map {
                          FirmwareFeature(name: $0.attribute("name") ?? "", enabled: $0.flag("enabled") ?? false)
                      } ?? [],
                      loader: element.child("loader").map {
                          Loader(path: Self.path($0), readonly: $0.flag("readonly"), type: $0.attribute("type"), secure: $0.flag("secure"))
                      },
                      nvram: element.child("nvram").map { NVRAM(path: Self.path($0), template: $0.attribute("template")) },
                      kernel: element.childText("kernel"), commandLine: element.childText("cmdline"))
        }

        public var element: XMLTree {
            var children = [XMLTree("type", [("arch", arch), ("machine", machine)], text: type)]
            if !firmwareFeatures.isEmpty {
                children.append(XMLTree("firmware", children: firmwareFeatures.map {
                    XMLTree("feature", [("enabled", $0.enabled ? "yes" : "no"), ("name", $0.name)])
                }))
            }
            if let loader {
                children.append(XMLTree("loader", [("readonly", loader.readonly.map(Self.yesNo)), ("secure", loader.secure.map(Self.yesNo)),
                                                   ("type", loader.type)], text: loader.path))
            }
            if let nvram { children.append(XMLTree("nvram", [("template", nvram.template)], text: nvram.path)) }
            if let kernel { children.append(XMLTree("kernel", text: kernel)) }
            if let commandLine { children.append(XMLTree("cmdline", text: commandLine)) }
            return XMLTree(Self.elementName, [("firmware", firmware)], children: children)
        }

        static func yesNo(_ flag: Bool) -> String { flag ? "yes" : "no" }

        /// The path an element holds as its text; nil when it has none.
        static func path(_ element: XMLTree) -> String? {
            let text = element.text.trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : text
        }

        /// A firmware feature asked of libvirt's auto-selection (`secure-boot`, `enrolled-keys`).
        public struct FirmwareFeature: Sendable, Equatable {
            public var name: String
            public var enabled: Bool
            public init(name: String, enabled: Bool) { self.name = name; self.enabled = enabled }
        }

        /// The firmware image libvirt chose (shown once resolved: at define from 9.x, at start in 9.0).
        public struct Loader: Sendable, Equatable {
            public var path: String?
            public var readonly: Bool?
            public var type: String?
            /// A Secure Boot build.
            public var secure: Bool?
            public init(path: String?, readonly: Bool? = nil, type: String? = nil, secure: Bool? = nil) {
                self.path = path; self.readonly = readonly; self.type = type; self.secure = secure
            }
        }

        /// The domain's own UEFI variable store and the template it was copied from.
        public struct NVRAM: Sendable, Equatable {
            public var path: String?
            public var template: String?
            public init(path: String?, template: String? = nil) { self.path = path; self.template = template }
        }
    }

    /// `<features>`: ACPI, APIC, SMM (Secure Boot's variable store needs it), Hyper-V enlightenments.
    public struct Features: LibvirtXMLElement {
        public static let elementName = "features"
        public var acpi: Bool
        public var apic: Bool
        /// `<smm state='on|off'>`; nil leaves it to libvirt.
        public var smm: Bool?
        public var hyperv: HyperV?

        public init(acpi: Bool = true, apic: Bool = true, smm: Bool? = nil, hyperv: HyperV? = nil) {
            self.acpi = acpi; self.apic = apic; self.smm = smm; self.hyperv = hyperv
        }

        public init(element: XMLTree) throws {
            self.init(acpi: element.child("acpi") != nil, apic: element.child("apic") != nil,
                      smm: element.child("smm").map { $0.flag("state") ?? true },
                      hyperv: element.child("hyperv").map { hyperv in
                          HyperV(mode: hyperv.attribute("mode"), enlightenments: hyperv.elements.map {
                              HyperV.Enlightenment(name: $0.name, on: $0.flag("state") ?? false, retries: $0.attribute("retries"))
                          })
                      })
        }

        public var element: XMLTree {
            var children: [XMLTree] = []
            if acpi { children.append(XMLTree("acpi")) }
            if apic { children.append(XMLTree("apic")) }
            if let smm { children.append(XMLTree("smm", [("state", smm ? "on" : "off")])) }
            if let hyperv {
                children.append(XMLTree("hyperv", [("mode", hyperv.mode)], children: hyperv.enlightenments.map {
                    XMLTree($0.name, [("state", $0.on ? "on" : "off"), ("retries", $0.retries)])
                }))
            }
            return XMLTree(Self.elementName, children: children)
        }

        /// Paravirtual interfaces Windows uses when it sees Hyper-V; KVM implements them, TCG does not.
        public struct HyperV: Sendable, Equatable {
            public var mode: String?
            public var enlightenments: [Enlightenment]
            public init(mode: String?, enlightenments: [Enlightenment]) { self.mode = mode; self.enlightenments = enlightenments }

            public struct Enlightenment: Sendable, Equatable {
                public var name: String
                public var on: Bool
                public var retries: String?
                public init(name: String, on: Bool = true, retries: String? = nil) { self.name = name; self.on = on; self.retries = retries }
            }
        }
    }

    public struct CPU: LibvirtXMLElement {
        public static let elementName = "cpu"
        public var mode: String?
        public var check: String?
        public var migratable: Bool?
        public init(mode: String?, check: String? = nil, migratable: Bool? = nil) {
            self.mode = mode; self.check = check; self.migratable = migratable
        }
        public init(element: XMLTree) throws {
            self.init(mode: element.attribute("mode"), check: element.attribute("check"), migratable: element.flag("migratable"))
        }
        public var element: XMLTree {
            XMLTree(Self.elementName, [("mode", mode), ("check", check), ("migratable", migratable.map { $0 ? "on" : "off" })])
        }
    }

    public struct Clock: LibvirtXMLElement {
        public static let elementName = "clock"
        public var offset: String
        public var timers: [Timer]
        public init(offset: String, timers: [Timer] = []) { self.offset = offset; self.timers = timers }
        public init(element: XMLTree) throws {
            self.init(offset: element.attribute("offset") ?? "utc", timers: element.children("timer").map {
                Timer(name: $0.attribute("name") ?? "", tickPolicy: $0.attribute("tickpolicy"), present: $0.flag("present"))
            })
        }
        public var element: XMLTree {
            XMLTree(Self.elementName, [("offset", offset)], children: timers.map {
                XMLTree("timer", [("name", $0.name), ("tickpolicy", $0.tickPolicy), ("present", $0.present.map(OS.yesNo))])
            })
        }

        public struct Timer: Sendable, Equatable {
            public var name: String
            public var tickPolicy: String?
            public var present: Bool?
            public init(name: String, tickPolicy: String? = nil, present: Bool? = nil) {
                self.name = name; self.tickPolicy = tickPolicy; self.present = present
            }
        }
    }

    /// `<pm>`: the guest's sleep states.
    public struct PowerManagement: LibvirtXMLElement {
        public static let elementName = "pm"
        public var suspendToMemory: Bool?
        public var suspendToDisk: Bool?
        public init(suspendToMemory: Bool?, suspendToDisk: Bool?) { self.suspendToMemory = suspendToMemory; self.suspendToDisk = suspendToDisk }
        public init(element: XMLTree) throws {
            self.init(suspendToMemory: element.child("suspend-to-mem")?.flag("enabled"),
                      suspendToDisk: element.child("suspend-to-disk")?.flag("enabled"))
        }
        public var element: XMLTree {
            var children: [XMLTree] = []
            if let suspendToMemory { children.append(XMLTree("suspend-to-mem", [("enabled", OS.yesNo(suspendToMemory))])) }
            if let suspendToDisk { children.append(XMLTree("suspend-to-disk", [("enabled", OS.yesNo(suspendToDisk))])) }
            return XMLTree(Self.elementName, children: children)
        }
    }
}
