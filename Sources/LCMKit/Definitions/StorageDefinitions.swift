import Foundation

/// A libvirt storage pool: lcm's own `dir` pool, or a transient one over a host directory.
public struct StoragePoolDefinition: LibvirtXMLElement {
    public static let elementName = "pool"
    public var type: String
    public var name: String
    public var uuid: String?
    public var targetPath: String
    /// The directory's mode as libvirt writes it (`0711`); nil leaves libvirt's default.
    public var mode: String?

    public init(type: String = "dir", name: String, uuid: String? = nil, targetPath: String, mode: String? = nil) {
        self.type = type; self.name = name; self.uuid = uuid; self.targetPath = targetPath; self.mode = mode
    }

    public init(element: XMLTree) throws {
        let target = element.child("target")
        self.init(type: element.attribute("type") ?? "", name: element.childText("name") ?? "", uuid: element.childText("uuid"),
                  targetPath: target?.childText("path") ?? "", mode: target?.child("permissions")?.childText("mode"))
    }

    public var element: XMLTree {
        var target = [XMLTree("path", text: targetPath)]
        if let mode { target.append(XMLTree("permissions", children: [XMLTree("mode", text: mode)])) }
        var children = [XMLTree("name", text: name)]
        if let uuid { children.append(XMLTree("uuid", text: uuid)) }
        children.append(XMLTree("target", children: target))
        return XMLTree(Self.elementName, [("type", type)], children: children)
    }
}

/// A libvirt storage volume: size, format, file mode, LUKS encryption and immediate backing file.
public struct StorageVolumeDefinition: LibvirtXMLElement {
    public static let elementName = "volume"
    public var name: String
    public var capacityBytes: UInt64
    public var allocationBytes: UInt64?
    /// Where libvirt keeps it on the device (read back; ignored when creating).
    public var path: String?
    /// `qcow2` or `raw`; nil reads as raw.
    public var format: String?
    public var mode: String?
    public var encryption: DiskEncryption?
    public var backing: Backing?

    public init(name: String, capacityBytes: UInt64, allocationBytes: UInt64? = nil, path: String? = nil, format: String?,
                mode: String? = nil, encryption: DiskEncryption? = nil, backing: Backing? = nil) {
        self.name = name; self.capacityBytes = capacityBytes; self.allocationBytes = allocationBytes; self.path = path
        self.format = format; self.mode = mode; self.encryption = encryption; self.backing = backing
    }

    public init(element: XMLTree) throws {
        let target = element.child("target")
        let backing = element.child("backingStore")
        self.init(name: element.childText("name") ?? "",
                  capacityBytes: try element.child("capacity").map(Self.bytes) ?? 0,
                  allocationBytes: try element.child("allocation").map(Self.bytes),
                  path: target?.childText("path"), format: target?.child("format")?.attribute("type"),
                  mode: target?.child("permissions")?.childText("mode"),
                  encryption: target?.child("encryption").map(DiskEncryption.init(element:)),
                  backing: backing.flatMap { store in
                      store.childText("path").map { Backing(path: $0, format: store.child("format")?.attribute("type")) }
                  })
    }

    public var element: XMLTree {
        var target: [XMLTree] = []
        if let path { target.append(XMLTree("path", text: path)) }
        if let format { target.append(XMLTree("format", [("type", format)])) }
        if let mode { target.append(XMLTree("permissions", children: [XMLTree("mode", text: mode)])) }
        if let encryption { target.append(encryption.element) }
        var children = [XMLTree("name", text: name), XMLTree("capacity", [("unit", "bytes")], text: String(capacityBytes))]
        if let allocationBytes { children.append(XMLTree("allocation", [("unit", "bytes")], text: String(allocationBytes))) }
        children.append(XMLTree("target", children: target))
        if let backing {
            children.append(XMLTree("backingStore", children: [XMLTree("path", text: backing.path)]
                + (backing.format.map { [XMLTree("format", [("type", $0)])] } ?? [])))
        }
        return XMLTree(Self.elementName, children: children)
    }

    /// The format a volume reads as: what libvirt says, raw when it says nothing.
    public var formatOrRaw: String { format ?? "raw" }

    static func bytes(_ element: XMLTree) throws -> UInt64 {
        let memory = try DomainDefinition.Memory(element: element)
        guard let bytes = memory.bytes else {
            throw XMLTree.invalid("<\(element.name) unit='\(memory.unit)'>", "has a unit lcm does not know")
        }
        return bytes
    }

    public struct Backing: Sendable, Equatable {
        public var path: String
        public var format: String?
        public init(path: String, format: String?) { self.path = path; self.format = format }
    }
}
