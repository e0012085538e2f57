import Foundation

/// What `virConnectGetCapabilities` says about a device: its CPU, IOMMU and the domain types
/// (kvm, qemu) its guests can have. Read by `procure check`.
public struct HostCapabilities: LibvirtXMLElement {
    public static let elementName = "capabilities"
    public var cpuArch: String?
    public var cpuModel: String?
    public var cpuFeatures: [String]
    /// nil where this libvirt does not report it.
    public var iommuSupported: Bool?
    /// The `<domain type=...>` of every guest architecture, in order, repeated as libvirt lists them.
    public var guestDomainTypes: [String]

    public init(cpuArch: String?, cpuModel: String?, cpuFeatures: [String], iommuSupported: Bool?, guestDomainTypes: [String]) {
        self.cpuArch = cpuArch; self.cpuModel = cpuModel; self.cpuFeatures = cpuFeatures
        self.iommuSupported = iommuSupported; self.guestDomainTypes = guestDomainTypes
    }

    public init(element: XMLTree) throws {
        let host = element.child("host")
        let cpu = host?.child("cpu")
        self.init(cpuArch: cpu?.childText("arch"), cpuModel: cpu?.childText("model"),
                  cpuFeatures: cpu?.children("feature").compactMap { $0.attribute("name") } ?? [],
                  iommuSupported: host?.child("iommu")?.flag("support"),
                  guestDomainTypes: element.children("guest").flatMap { guest in
                      guest.children("arch").flatMap { $0.children("domain").compactMap { $0.attribute("type") } }
                  })
    }

    public var element: XMLTree {
        var cpu: [XMLTree] = []
        if let cpuArch { cpu.append(XMLTree("arch", text: cpuArch)) }
        if let cpuModel { cpu.append(XMLTree("model", text: cpuModel)) }
        cpu += cpuFeatures.map { XMLTree("feature", [("name", $0)]) }
        var host = [XMLTree("cpu", children: cpu)]
        if let iommuSupported { host.append(XMLTree("iommu", [("support", DomainDefinition.OS.yesNo(iommuSupported))])) }
        return XMLTree(Self.elementName, children: [XMLTree("host", children: host)] + [
            XMLTree("guest", children: [XMLTree("arch", [("name", cpuArch)], children: guestDomainTypes.map { XMLTree("domain", [("type", $0)]) })]),
        ])
    }
}

/// What `virConnectGetDomainCapabilities` says a domain of one machine type can have: firmware
/// (kinds, loaders, Secure Boot builds) and TPM. Read by `procure check`, `lcm doctor` and deploy.
public struct DomainCapabilities: LibvirtXMLElement {
    public static let elementName = "domainCapabilities"
    /// `<os supported=...>` with its `<enum name='firmware'>` values (`efi`, `bios`).
    public var os: Feature?
    /// `<os><loader>`: the firmware images (`<value>` paths) and enums (`type`, `readonly`, `secure`).
    public var loader: Feature?
    /// `<devices><tpm>`: enums `model`, `backendModel`, `backendVersion`.
    public var tpm: Feature?

    public init(os: Feature?, loader: Feature?, tpm: Feature?) { self.os = os; self.loader = loader; self.tpm = tpm }

    public init(element: XMLTree) throws {
        let os = element.child("os")
        self.init(os: os.map(Feature.init(element:)), loader: os?.child("loader").map(Feature.init(element:)),
                  tpm: element.child("devices")?.child("tpm").map(Feature.init(element:)))
    }

    public var element: XMLTree {
        var os = self.os.map { $0.element(named: "os") }
        if let loader { os?.children.append(.element(loader.element(named: "loader"))) }
        return XMLTree(Self.elementName, children: (os.map { [$0] } ?? [])
            + [XMLTree("devices", children: tpm.map { [$0.element(named: "tpm")] } ?? [])])
    }

    /// Whether UEFI Secure Boot is offered: `efi` among the firmware kinds and a Secure Boot
    /// loader (`secure` = yes). libvirt 9.0 does not say whether that firmware has a VARS template
    /// with Microsoft's keys; a device without one fails at start.
    public var offersSecureBoot: Bool {
        guard let os, os.values(of: "firmware").contains("efi") else { return false }
        return loader?.values(of: "secure").contains("yes") ?? false
    }

    /// One capability: whether it is supported, its `<value>`s, and its `<enum>`s.
    public struct Feature: Sendable, Equatable {
        public var supported: Bool?
        public var values: [String]
        public var enums: [(name: String, values: [String])]

        public init(supported: Bool?, values: [String] = [], enums: [(name: String, values: [String])] = []) {
            self.supported = supported; self.values = values; self.enums = enums
        }

        init(element: XMLTree) {
            self.init(supported: element.flag("supported"),
                      values: element.children("value").map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) },
                      enums: element.children("enum").map { item in
                          (name: item.attribute("name") ?? "", values: item.children("value").map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) })
                      })
        }

        func element(named name: String) -> XMLTree {
            XMLTree(name, [("supported", supported.map(DomainDefinition.OS.yesNo))],
                    children: values.map { XMLTree("value", text: $0) } + enums.map { item in
                        XMLTree("enum", [("name", item.name)], children: item.values.map { XMLTree("value", text: $0) })
                    })
        }

        /// The values of `<enum name=...>` (empty when absent).
        public func values(of name: String) -> [String] {
            enums.first { $0.name == name }?.values ?? []
        }

        public static func == (lhs: Feature, rhs: Feature) -> Bool {
            lhs.supported == rhs.supported && lhs.values == rhs.values
                && lhs.enums.map(\.name) == rhs.enums.map(\.name) && lhs.enums.map(\.values) == rhs.enums.map(\.values)
        }
    }
}
