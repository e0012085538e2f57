import Foundation

/// `<domainsnapshot>`: a snapshot document. lcm's snapshots are disk-only and external (an
/// overlay file per disk, no memory state); retirement reads any snapshot's overlays and memory file.
public struct DomainSnapshotDefinition: LibvirtXMLElement {
    public static let elementName = "domainsnapshot"
    public var name: String?
    public var description: String?
    /// `no`, `internal` or `external` (with `memoryFile`).
    public var memory: String?
    public var memoryFile: String?
    public var disks: [Disk]

    public init(name: String?, description: String? = nil, memory: String? = "no", memoryFile: String? = nil, disks: [Disk]) {
        self.name = name; self.description = description; self.memory = memory; self.memoryFile = memoryFile; self.disks = disks
    }

    /// A disk-only external snapshot: each named disk gets a qcow2 overlay at the given file.
    public static func diskOnly(name: String, description: String? = nil, overlays: [(disk: String, file: String)]) -> Self {
        Self(name: name, description: description, memory: "no", disks: overlays.map {
            Disk(name: $0.disk, snapshot: "external", type: "file", driverType: "qcow2", source: DiskSource(file: $0.file))
        })
    }

    public init(element: XMLTree) throws {
        let memory = element.child("memory")
        self.init(name: element.childText("name"), description: element.child("description")?.text,
                  memory: memory?.attribute("snapshot"), memoryFile: memory?.attribute("file"),
                  disks: element.child("disks")?.children("disk").map { disk in
                      Disk(name: disk.attribute("name") ?? "", snapshot: disk.attribute("snapshot"), type: disk.attribute("type"),
                           driverType: disk.child("driver")?.attribute("type"),
                           source: disk.child("source").map { DiskSource(element: $0, disk: disk) })
                  } ?? [])
    }

    public var element: XMLTree {
        var children: [XMLTree] = []
        if let name { children.append(XMLTree("name", text: name)) }
        if let description { children.append(XMLTree("description", text: description)) }
        if memory != nil || memoryFile != nil { children.append(XMLTree("memory", [("snapshot", memory), ("file", memoryFile)])) }
        children.append(XMLTree("disks", children: disks.map { disk in
            var parts: [XMLTree] = []
            if let driverType = disk.driverType { parts.append(XMLTree("driver", [("type", driverType)])) }
            if let source = disk.source { parts.append(source.element) }
            return XMLTree("disk", [("name", disk.name), ("snapshot", disk.snapshot), ("type", disk.type)], children: parts)
        }))
        return XMLTree(Self.elementName, children: children)
    }

    public struct Disk: Sendable, Equatable {
        /// The domain's disk, by target (`vda`) or source path.
        public var name: String
        /// `external`, `internal`, `no`.
        public var snapshot: String?
        public var type: String?
        public var driverType: String?
        public var source: DiskSource?
        public init(name: String, snapshot: String?, type: String? = nil, driverType: String? = nil, source: DiskSource? = nil) {
            self.name = name; self.snapshot = snapshot; self.type = type; self.driverType = driverType; self.source = source
        }
    }
}
