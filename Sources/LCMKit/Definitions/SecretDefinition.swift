import Foundation

/// A libvirt secret: a disk's LUKS passphrase (usage `volume`) or a vTPM's state key (`vtpm`).
public struct SecretDefinition: LibvirtXMLElement {
    public static let elementName = "secret"
    /// Kept on the device's disk (not only in libvirtd's memory).
    public var ephemeral: Bool
    /// Its value cannot be read back through libvirt.
    public var isPrivate: Bool
    public var uuid: String?
    public var description: String?
    public var usage: Usage?

    public init(ephemeral: Bool = false, isPrivate: Bool = true, uuid: String?, description: String?, usage: Usage?) {
        self.ephemeral = ephemeral; self.isPrivate = isPrivate; self.uuid = uuid; self.description = description; self.usage = usage
    }

    public init(element: XMLTree) throws {
        let usage = element.child("usage")
        self.init(ephemeral: element.flag("ephemeral") ?? false, isPrivate: element.flag("private") ?? false,
                  uuid: element.childText("uuid"), description: element.child("description")?.text,
                  usage: usage.map { usage in
                      switch usage.attribute("type") {
                      case "volume": Usage.volume(usage.childText("volume") ?? "")
                      case "vtpm": Usage.vtpm(usage.childText("name") ?? "")
                      default: Usage.other(type: usage.attribute("type") ?? "", name: usage.childText("name") ?? "")
                      }
                  })
    }

    public var element: XMLTree {
        var children: [XMLTree] = []
        if let uuid { children.append(XMLTree("uuid", text: uuid)) }
        if let description { children.append(XMLTree("description", text: description)) }
        switch usage {
        case .volume(let path): children.append(XMLTree("usage", [("type", "volume")], children: [XMLTree("volume", text: path)]))
        case .vtpm(let name): children.append(XMLTree("usage", [("type", "vtpm")], children: [XMLTree("name", text: name)]))
        case .other(let type, let name): children.append(XMLTree("usage", [("type", type)], children: [XMLTree("name", text: name)]))
        case nil: break
        }
        return XMLTree(Self.elementName, [("ephemeral", DomainDefinition.OS.yesNo(ephemeral)), ("private", DomainDefinition.OS.yesNo(isPrivate))],
                       children: children)
    }

    public enum Usage: Sendable, Equatable {
        /// A volume's LUKS passphrase, named by the volume's path.
        case volume(String)
        /// A vTPM's state encryption key, by name.
        case vtpm(String)
        case other(type: String, name: String)
    }
}
