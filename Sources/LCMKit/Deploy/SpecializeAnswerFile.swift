import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Builds the specialize pass of an unattend answer file, or merges it into an existing one
/// (keeping its other passes, components and settings).
enum SpecializeAnswerFile {
    static let namespace = "urn:schemas-microsoft-com:unattend"
    static let wcmNamespace = "http://schemas.microsoft.com/WMIConfig/2002/State"
    static let xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"
    static let publicKeyToken = "31bf3856ad364e35"
    static let shellSetup = "Microsoft-Windows-Shell-Setup"
    static let unattendedJoin = "Microsoft-Windows-UnattendedJoin"

    static func merge(_ personalization: DesktopPersonalization, architecture: UnattendArchitecture,
                      into existing: Data?, path: String) throws -> [UInt8] {
        let document: XMLDocument
        let root: XMLElement
        if let existing {
            let parsed: XMLDocument
            do {
                parsed = try SafeXML.document(existing, source: "the existing answer file \(path)")
            } catch let refusal as SafeXML.Refusal {
                throw refusal.lcmError(hint: "fix or remove it in the golden image")
            }
            guard let parsedRoot = parsed.rootElement(),
                  parsedRoot.localName == "unattend", parsedRoot.uri == namespace else {
                throw LCMError(.dataError, "the existing answer file \(path) is not an unattend document lcm can merge into",
                               hint: "fix or remove it in the golden image")
            }
            document = parsed
            root = parsedRoot
        } else {
            root = XMLElement(name: "unattend")
            root.addNamespace(namespaceNode("", namespace))
            document = XMLDocument(rootElement: root)
        }
        document.version = "1.0"
        document.characterEncoding = "utf-8"

        let settings = child(of: root, named: "settings", where: { SpecializeAnswerFile.attribute($0, "pass") == "specialize" }) {
            let element = XMLElement(name: "settings")
            element.addAttribute(attributeNode("pass", "specialize"))
            return element
        }
        let shell = component(shellSetup, in: settings, architecture: architecture)
        setChild(shell, "ComputerName", personalization.computerName)
        setChild(shell, "RegisteredOrganization", personalization.registeredOrganization)
        setChild(shell, "RegisteredOwner", personalization.registeredOwner)
        setChild(shell, "TimeZone", personalization.timeZone)

        if let blob = personalization.domainJoin {
            let join = component(unattendedJoin, in: settings, architecture: architecture)
            // Provisioning replaces any online join (Credentials, JoinDomain) the image carried.
            for old in join.elements(forLocalName: "Identification", uri: namespace) { old.detach() }
            let identification = XMLElement(name: "Identification")
            let provisioning = XMLElement(name: "Provisioning")
            let accountData = XMLElement(name: "AccountData")
            accountData.stringValue = blob.withBytes { String(decoding: $0, as: UTF8.self) }
            provisioning.addChild(accountData)
            identification.addChild(provisioning)
            join.addChild(identification)
        }
        return Array(document.xmlData(options: [.nodePrettyPrint]))
    }

    /// The component `name` for `architecture` in `settings`, created when missing.
    static func component(_ name: String, in settings: XMLElement, architecture: UnattendArchitecture) -> XMLElement {
        child(of: settings, named: "component", where: {
            SpecializeAnswerFile.attribute($0, "name") == name
                && SpecializeAnswerFile.attribute($0, "processorArchitecture") == architecture.rawValue
        }) {
            let element = XMLElement(name: "component")
            for (key, value) in [("name", name), ("processorArchitecture", architecture.rawValue), ("publicKeyToken", publicKeyToken),
                                 ("language", "neutral"), ("versionScope", "nonSxS")] {
                element.addAttribute(attributeNode(key, value))
            }
            element.addNamespace(namespaceNode("wcm", wcmNamespace))
            element.addNamespace(namespaceNode("xsi", xsiNamespace))
            return element
        }
    }

    static func child(of parent: XMLElement, named name: String, where matches: (XMLElement) -> Bool,
                      create: () -> XMLElement) -> XMLElement {
        if let found = parent.elements(forLocalName: name, uri: namespace).first(where: matches) { return found }
        let element = create()
        parent.addChild(element)
        return element
    }

    /// Replaces the setting `name` of a component (keeping the component's other settings).
    static func setChild(_ parent: XMLElement, _ name: String, _ value: String) {
        for old in parent.elements(forLocalName: name, uri: namespace) { old.detach() }
        let element = XMLElement(name: name)
        element.stringValue = value
        parent.addChild(element)
    }

    /// An unprefixed attribute's value. `attribute(forName:)` misses these on parsed elements in a
    /// default namespace (swift-corelibs-foundation looks them up in the element's namespace).
    static func attribute(_ element: XMLElement, _ name: String) -> String? {
        element.attributes?.first { $0.name == name }?.stringValue
    }

    static func namespaceNode(_ prefix: String, _ uri: String) -> XMLNode {
        XMLNode.namespace(withName: prefix, stringValue: uri) as! XMLNode
    }

    static func attributeNode(_ name: String, _ value: String) -> XMLNode {
        XMLNode.attribute(withName: name, stringValue: value) as! XMLNode
    }
}
