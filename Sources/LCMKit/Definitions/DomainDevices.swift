import Foundation

/// `<devices>` of a domain, by kind, in the order lcm writes them (libvirt keeps each kind's order).
public struct DomainDevices: LibvirtXMLElement {
    public static let elementName = "devices"
    public var disks: [DiskDefinition]
    public var interfaces: [InterfaceDefinition]
    public var channels: [CharacterDevice]
    public var serials: [CharacterDevice]
    public var consoles: [CharacterDevice]
    public var graphics: [Graphics]
    public var videos: [String]
    public var inputs: [Input]
    public var tpms: [TPMDefinition]
    public var memoryBalloon: String?
    public var randomNumberGenerators: [RandomNumberGenerator]
    public var panics: [String]
    public var redirectedDevices: [RedirectedDevice]
    public var redirectionFilters: [RedirectionFilter]

    public init(disks: [DiskDefinition] = [], interfaces: [InterfaceDefinition] = [], channels: [CharacterDevice] = [],
                serials: [CharacterDevice] = [], consoles: [CharacterDevice] = [], graphics: [Graphics] = [],
                videos: [String] = [], inputs: [Input] = [], tpms: [TPMDefinition] = [], memoryBalloon: String? = nil,
                randomNumberGenerators: [RandomNumberGenerator] = [], panics: [String] = [],
                redirectedDevices: [RedirectedDevice] = [], redirectionFilters: [RedirectionFilter] = []) {
        self.disks = disks; self.interfaces = interfaces; self.channels = channels; self.serials = serials
        self.consoles = consoles; self.graphics = graphics; self.videos = videos; self.inputs = inputs; self.tpms = tpms
        self.memoryBalloon = memoryBalloon; self.randomNumberGenerators = randomNumberGenerators; self.panics = panics
        self.redirectedDevices = redirectedDevices; self.redirectionFilters = redirectionFilters
    }

    public init(element: XMLTree) throws {
        self.init(disks: try DiskDefinition.decodeAll(element), interfaces: try InterfaceDefinition.decodeAll(element),
                  channels: element.children("channel").map(CharacterDevice.init(element:)),
                  serials: element.children("serial").map(CharacterDevice.init(element:)),
                  consoles: element.children("console").map(CharacterDevice.init(element:)),
                  graphics: element.children("graphics").map(Graphics.init(element:)),
                  videos: element.children("video").compactMap { $0.child("model")?.attribute("type") },
                  inputs: element.children("input").map { Input(type: $0.attribute("type") ?? "", bus: $0.attribute("bus")) },
                  tpms: try TPMDefinition.decodeAll(element),
                  memoryBalloon: element.child("memballoon")?.attribute("model"),
                  randomNumberGenerators: element.children("rng").map {
                      RandomNumberGenerator(model: $0.attribute("model") ?? "", backendModel: $0.child("backend")?.attribute("model"),
                                            source: $0.child("backend").map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) })
                  },
                  panics: element.children("panic").compactMap { $0.attribute("model") },
                  redirectedDevices: element.children("redirdev").map {
                      RedirectedDevice(bus: $0.attribute("bus") ?? "usb", type: $0.attribute("type") ?? "")
                  },
                  redirectionFilters: try RedirectionFilter.decodeAll(element))
    }

    public var element: XMLTree {
        var children = disks.map(\.element) + interfaces.map(\.element)
        children += channels.map { $0.element(named: "channel") } + serials.map { $0.element(named: "serial") }
        children += consoles.map { $0.element(named: "console") } + graphics.map(\.element)
        children += videos.map { XMLTree("video", children: [XMLTree("model", [("type", $0)])]) }
        children += inputs.map { XMLTree("input", [("type", $0.type), ("bus", $0.bus)]) }
        children += tpms.map(\.element)
        if let memoryBalloon { children.append(XMLTree("memballoon", [("model", memoryBalloon)])) }
        children += randomNumberGenerators.map {
            XMLTree("rng", [("model", $0.model)], children: [XMLTree("backend", [("model", $0.backendModel)], text: $0.source)])
        }
        children += panics.map { XMLTree("panic", [("model", $0)]) }
        children += redirectedDevices.map { XMLTree("redirdev", [("bus", $0.bus), ("type", $0.type)]) }
        children += redirectionFilters.map(\.element)
        return XMLTree(Self.elementName, children: children)
    }

    /// A serial port, console or channel: where it goes (pty, file, unix socket) and its target.
    public struct CharacterDevice: Sendable, Equatable {
        public var type: String
        /// `<source path=...>` (a file the output goes to).
        public var sourcePath: String?
        public var targetType: String?
        public var targetName: String?
        public var targetPort: String?

        public init(type: String, sourcePath: String? = nil, targetType: String? = nil, targetName: String? = nil, targetPort: String? = nil) {
            self.type = type; self.sourcePath = sourcePath; self.targetType = targetType; self.targetName = targetName; self.targetPort = targetPort
        }

        init(element: XMLTree) {
            let target = element.child("target")
            self.init(type: element.attribute("type") ?? "", sourcePath: element.child("source")?.attribute("path"),
                      targetType: target?.attribute("type"), targetName: target?.attribute("name"), targetPort: target?.attribute("port"))
        }

        func element(named name: String) -> XMLTree {
            var children: [XMLTree] = []
            if let sourcePath { children.append(XMLTree("source", [("path", sourcePath)])) }
            children.append(XMLTree("target", [("type", targetType), ("name", targetName), ("port", targetPort)]))
            return XMLTree(name, [("type", type)], children: children)
        }
    }

    /// The remote display and the addresses it listens on.
    public struct Graphics: Sendable, Equatable {
        public var type: String
        public var autoport: Bool?
        public var listen: String?
        public var listenAddresses: [String]

        public init(type: String, autoport: Bool? = true, listen: String? = nil, listenAddresses: [String] = []) {
            self.type = type; self.autoport = autoport; self.listen = listen; self.listenAddresses = listenAddresses
        }

        init(element: XMLTree) {
            self.init(type: element.attribute("type") ?? "", autoport: element.flag("autoport"), listen: element.attribute("listen"),
                      listenAddresses: element.children("listen").compactMap { $0.attribute("address") })
        }

        var element: XMLTree {
            XMLTree("graphics", [("type", type), ("autoport", autoport.map(DomainDefinition.OS.yesNo)), ("listen", listen)],
                    children: listenAddresses.map { XMLTree("listen", [("type", "address"), ("address", $0)]) })
        }
    }

    public struct Input: Sendable, Equatable {
        public var type: String
        public var bus: String?
        public init(type: String, bus: String?) { self.type = type; self.bus = bus }
    }

    public struct RandomNumberGenerator: Sendable, Equatable {
        public var model: String
        public var backendModel: String?
        public var source: String?
        public init(model: String, backendModel: String?, source: String?) {
            self.model = model; self.backendModel = backendModel; self.source = source
        }
    }

    /// `<redirdev>`: a channel the viewer forwards USB devices through (SPICE).
    public struct RedirectedDevice: Sendable, Equatable {
        public var bus: String
        public var type: String
        public init(bus: String = "usb", type: String = "spicevmc") { self.bus = bus; self.type = type }
    }
}

/// A disk of a domain: its file (or other store), format, LUKS secret, backing chain and target.
public struct DiskDefinition: LibvirtXMLElement {
    public static let elementName = "disk"
    /// Where the data is: `file`, `block`, `volume`, `network`, `dir`.
    public var type: String
    /// `disk` or `cdrom`.
    public var device: String
    public var driver: Driver?
    public var source: DiskSource?
    /// The layers below the source, top first.
    public var backingChain: [BackingStore]
    /// The chain ends with an empty `<backingStore/>`: libvirt probes nothing further.
    public var backingChainClosed: Bool
    public var target: Target?
    public var bootOrder: Int?
    public var readonly: Bool

    public init(type: String = "file", device: String = "disk", driver: Driver? = nil, source: DiskSource?,
                backingChain: [BackingStore] = [], backingChainClosed: Bool = false, target: Target?,
                bootOrder: Int? = nil, readonly: Bool = false) {
        self.type = type; self.device = device; self.driver = driver; self.source = source
        self.backingChain = backingChain; self.backingChainClosed = backingChainClosed
        self.target = target; self.bootOrder = bootOrder; self.readonly = readonly
    }

    public init(element: XMLTree) throws {
        var chain: [BackingStore] = []
        var closed = false
        var next = element.child("backingStore")
        while let store = next {
            if store.attributes.isEmpty && store.elements.isEmpty {
                closed = true
                break
            }
            chain.append(BackingStore(type: store.attribute("type") ?? "file", format: store.child("format")?.attribute("type"),
                                      source: store.child("source").map { DiskSource(element: $0, disk: store) }))
            next = store.child("backingStore")
        }
        let driver = element.child("driver")
        self.init(type: element.attribute("type") ?? "file", device: element.attribute("device") ?? "disk",
                  driver: driver.map { Driver(name: $0.attribute("name"), format: $0.attribute("type"), discard: $0.attribute("discard")) },
                  source: element.child("source").map { DiskSource(element: $0, disk: element) },
                  backingChain: chain, backingChainClosed: closed,
                  target: element.child("target").map { Target(device: $0.attribute("dev") ?? "", bus: $0.attribute("bus")) },
                  bootOrder: try element.child("boot")?.integer("order"), readonly: element.child("readonly") != nil)
    }

    public var element: XMLTree {
        var children: [XMLTree] = []
        if let driver { children.append(XMLTree("driver", [("name", driver.name), ("type", driver.format), ("discard", driver.discard)])) }
        children += storageElements
        if let target { children.append(XMLTree("target", [("dev", target.device), ("bus", target.bus)])) }
        if let bootOrder { children.append(XMLTree("boot", [("order", String(bootOrder))])) }
        if readonly { children.append(XMLTree("readonly")) }
        return XMLTree(Self.elementName, [("type", type), ("device", device)], children: children)
    }

    /// `<source>` and the nested `<backingStore>`: what a layer switch replaces.
    public var storageElements: [XMLTree] {
        var children: [XMLTree] = []
        if let source { children.append(source.element) }
        var chain: XMLTree? = backingChainClosed ? XMLTree("backingStore") : nil
        for layer in backingChain.reversed() {
            var store = XMLTree("backingStore", [("type", layer.type)])
            if let format = layer.format { store.children.append(.element(XMLTree("format", [("type", format)]))) }
            if let source = layer.source { store.children.append(.element(source.element)) }
            if let below = chain { store.children.append(.element(below)) }
            chain = store
        }
        if let chain { children.append(chain) }
        return children
    }

    /// Every file of the disk, top first: its source, then each backing layer that is a file.
    public var layerFiles: [String] {
        ([source?.file] + backingChain.map { $0.type == "file" ? $0.source?.file : nil }).compactMap { $0 }
    }

    public struct Driver: Sendable, Equatable {
        public var name: String?
        /// The image format (`qcow2`, `raw`).
        public var format: String?
        /// `unmap` passes the guest's TRIM through.
        public var discard: String?
        public init(name: String? = "qemu", format: String?, discard: String? = nil) {
            self.name = name; self.format = format; self.discard = discard
        }
    }

    public struct Target: Sendable, Equatable {
        /// The guest device name (vda, sda).
        public var device: String
        public var bus: String?
        public init(device: String, bus: String?) { self.device = device; self.bus = bus }
    }

    /// One layer under a disk's source.
    public struct BackingStore: Sendable, Equatable {
        public var type: String
        public var format: String?
        public var source: DiskSource?
        public init(type: String = "file", format: String?, source: DiskSource?) {
            self.type = type; self.format = format; self.source = source
        }
    }
}

/// Where a disk or layer keeps its data, and the LUKS secret that unlocks it.
public struct DiskSource: Sendable, Equatable {
    public var file: String?
    /// A block device.
    public var device: String?
    public var directory: String?
    public var pool: String?
    public var volume: String?
    /// A network disk: protocol, name and hosts.
    public var networkProtocol: String?
    public var name: String?
    public var hosts: [String]
    public var encryption: DiskEncryption?

    public init(file: String? = nil, device: String? = nil, directory: String? = nil, pool: String? = nil, volume: String? = nil,
                networkProtocol: String? = nil, name: String? = nil, hosts: [String] = [], encryption: DiskEncryption? = nil) {
        self.file = file; self.device = device; self.directory = directory; self.pool = pool; self.volume = volume
        self.networkProtocol = networkProtocol; self.name = name; self.hosts = hosts; self.encryption = encryption
    }

    /// The source of a disk; its encryption inside `<source>` (where lcm writes it) or, in the
    /// older form, beside it in the disk.
    init(element: XMLTree, disk: XMLTree) {
        self.init(file: element.attribute("file"), device: element.attribute("dev"), directory: element.attribute("dir"),
                  pool: element.attribute("pool"), volume: element.attribute("volume"),
                  networkProtocol: element.attribute("protocol"), name: element.attribute("name"),
                  hosts: element.children("host").compactMap { $0.attribute("name") },
                  encryption: (element.child("encryption") ?? disk.child("encryption")).map(DiskEncryption.init(element:)))
    }

    var element: XMLTree {
        XMLTree("source", [("file", file), ("dev", device), ("dir", directory), ("pool", pool), ("volume", volume),
                           ("protocol", networkProtocol), ("name", name)],
                children: hosts.map { XMLTree("host", [("name", $0)]) } + (encryption.map { [$0.element] } ?? []))
    }
}

/// `<encryption format='luks'>` with the libvirt secret that holds the passphrase.
public struct DiskEncryption: Sendable, Equatable {
    public var format: String
    public var secretUUID: String?
    public init(format: String = "luks", secretUUID: String?) { self.format = format; self.secretUUID = secretUUID }

    init(element: XMLTree) {
        self.init(format: element.attribute("format") ?? "", secretUUID: element.child("secret")?.attribute("uuid"))
    }

    var element: XMLTree {
        XMLTree("encryption", [("format", format)],
                children: secretUUID.map { [XMLTree("secret", [("type", "passphrase"), ("uuid", $0)])] } ?? [])
    }
}

/// A network card: where it is plugged in, its MAC address and model, and the network filter
/// libvirt applies to its traffic.
public struct InterfaceDefinition: LibvirtXMLElement {
    public static let elementName = "interface"
    /// `network` or `bridge`.
    public var type: String
    /// The network's or bridge's name.
    public var source: String
    public var macAddress: String?
    public var model: String?
    public var filter: FilterReference?

    public init(type: String, source: String, macAddress: String? = nil, model: String? = nil, filter: FilterReference? = nil) {
        self.type = type; self.source = source; self.macAddress = macAddress; self.model = model; self.filter = filter
    }

    public init(element: XMLTree) throws {
        let type = element.attribute("type") ?? ""
        self.init(type: type, source: element.child("source")?.attribute(type) ?? "",
                  macAddress: element.child("mac")?.attribute("address"), model: element.child("model")?.attribute("type"),
                  filter: try FilterReference.decode(element))
    }

    public var element: XMLTree {
        var children = [XMLTree("source", [(type, source)])]
        if let macAddress { children.append(XMLTree("mac", [("address", macAddress)])) }
        if let model { children.append(XMLTree("model", [("type", model)])) }
        if let filter { children.append(filter.element) }
        return XMLTree(Self.elementName, [("type", type)], children: children)
    }
}

/// `<filterref>`: a libvirt network filter (nwfilter) applied to an interface, with its parameters
/// (e.g. `IP`, `CTRL_IP_LEARNING`).
public struct FilterReference: LibvirtXMLElement {
    public static let elementName = "filterref"
    public var filter: String
    public var parameters: [Parameter]

    public init(filter: String, parameters: [Parameter] = []) { self.filter = filter; self.parameters = parameters }

    public init(element: XMLTree) throws {
        self.init(filter: element.attribute("filter") ?? "", parameters: element.children("parameter").map {
            Parameter(name: $0.attribute("name") ?? "", value: $0.attribute("value") ?? "")
        })
    }

    public var element: XMLTree {
        XMLTree(Self.elementName, [("filter", filter)], children: parameters.map { XMLTree("parameter", [("name", $0.name), ("value", $0.value)]) })
    }

    public struct Parameter: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) { self.name = name; self.value = value }
    }
}

/// `<redirfilter>`: which USB devices a viewer may redirect into the domain, first match wins.
public struct RedirectionFilter: LibvirtXMLElement {
    public static let elementName = "redirfilter"
    public var rules: [Rule]

    public init(rules: [Rule]) { self.rules = rules }

    public init(element: XMLTree) throws {
        self.init(rules: try element.children("usbdev").map { rule in
            func hex(_ name: String) throws -> UInt16? {
                guard let text = rule.attribute(name), text != "-1" else { return nil }
                let digits = text.lowercased().hasPrefix("0x") ? String(text.dropFirst(2)) : text
                guard let value = UInt16(digits, radix: 16) else { throw XMLTree.invalid("<usbdev \(name)='\(text)'>", "is not a hexadecimal number") }
                return value
            }
            let version = rule.attribute("version")
            return Rule(deviceClass: try hex("class").map { UInt8(truncatingIfNeeded: $0) }, vendor: try hex("vendor"),
                        product: try hex("product"), version: version == "-1" ? nil : version, allow: rule.flag("allow") ?? false)
        })
    }

    public var element: XMLTree {
        XMLTree(Self.elementName, children: rules.map {
            // libvirt's own form: upper-case hexadecimal, two digits for a class, four for an id.
            XMLTree("usbdev", [("class", $0.deviceClass.map { String(format: "0x%02X", $0) }),
                               ("vendor", $0.vendor.map { String(format: "0x%04X", $0) }),
                               ("product", $0.product.map { String(format: "0x%04X", $0) }), ("version", $0.version),
                               ("allow", DomainDefinition.OS.yesNo($0.allow))])
        })
    }

    /// One `<usbdev>` rule: unset fields match any device (-1 in libvirt's terms).
    public struct Rule: Sendable, Equatable {
        /// USB class code, e.g. 0x08 (mass storage).
        public var deviceClass: UInt8?
        public var vendor: UInt16?
        public var product: UInt16?
        /// The device's release, e.g. `2.00`.
        public var version: String?
        public var allow: Bool
        public init(deviceClass: UInt8? = nil, vendor: UInt16? = nil, product: UInt16? = nil, version: String? = nil, allow: Bool) {
            self.deviceClass = deviceClass; self.vendor = vendor; self.product = product; self.version = version; self.allow = allow
        }
    }
}

/// An emulated TPM (swtpm), its state encrypted under a libvirt secret of usage type vtpm.
public struct TPMDefinition: LibvirtXMLElement {
    public static let elementName = "tpm"
    public var model: String
    public var backendType: String
    public var backendVersion: String?
    public var encryptionSecretUUID: String?

    public init(model: String = "tpm-crb", backendType: String = "emulator", backendVersion: String? = "2.0", encryptionSecretUUID: String?) {
        self.model = model; self.backendType = backendType; self.backendVersion = backendVersion; self.encryptionSecretUUID = encryptionSecretUUID
    }

    public init(element: XMLTree) throws {
        let backend = element.child("backend")
        self.init(model: element.attribute("model") ?? "", backendType: backend?.attribute("type") ?? "",
                  backendVersion: backend?.attribute("version"), encryptionSecretUUID: backend?.child("encryption")?.attribute("secret"))
    }

    public var element: XMLTree {
        XMLTree(Self.elementName, [("model", model)], children: [
            XMLTree("backend", [("type", backendType), ("version", backendVersion)],
                    children: encryptionSecretUUID.map { [XMLTree("encryption", [("secret", $0)])] } ?? []),
        ])
    }
}
