import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// One XML element as a value: its name, its attributes in order, and its children (elements and
/// text). The one XML layer for libvirt's documents: every definition lcm writes is built as a tree
/// and written by `xmlString`; every document libvirt returns is read by `parse`, which goes
/// through `SafeXML` (no DOCTYPE, no entities, no external access). Edits of a definition libvirt
/// returned (patch, rollback) change the tree and keep whatever lcm does not own as it was.
public struct XMLTree: Sendable, Equatable {
    public enum Node: Sendable, Equatable {
        case element(XMLTree)
        case text(String)

        /// The element this node is, nil for text.
        public var asElement: XMLTree? {
            guard case .element(let element) = self else { return nil }
            return element
        }
    }

    public var name: String
    public var attributes: [(name: String, value: String)]
    public var children: [Node]

    public init(_ name: String, _ attributes: [(String, String?)] = [], children: [XMLTree] = [], text: String? = nil) {
        self.name = name
        self.attributes = attributes.compactMap { pair in pair.1.map { (name: pair.0, value: $0) } }
        self.children = children.map(Node.element) + (text.map { [.text($0)] } ?? [])
    }

    public static func == (lhs: XMLTree, rhs: XMLTree) -> Bool {
        lhs.name == rhs.name && lhs.children == rhs.children
            && lhs.attributes.map(\.name) == rhs.attributes.map(\.name) && lhs.attributes.map(\.value) == rhs.attributes.map(\.value)
    }

    // MARK: Reading

    public func attribute(_ name: String) -> String? {
        attributes.first { $0.name == name }?.value
    }

    /// An attribute that must be a whole number, nil when absent.
    public func integer(_ name: String) throws -> Int? {
        guard let text = attribute(name) else { return nil }
        guard let value = Int(text) else { throw Self.invalid("<\(self.name) \(name)='\(text)'>", "is not a whole number") }
        return value
    }

    /// "yes"/"on" is true, "no"/"off" false, nil when absent.
    public func flag(_ name: String) -> Bool? {
        attribute(name).map { $0 == "yes" || $0 == "on" }
    }

    public var elements: [XMLTree] {
        children.compactMap(\.asElement)
    }

    public func child(_ name: String) -> XMLTree? {
        elements.first { $0.name == name }
    }

    public func children(_ name: String) -> [XMLTree] {
        elements.filter { $0.name == name }
    }

    /// The text directly inside this element.
    public var text: String {
        children.map { node -> String in
            guard case .text(let text) = node else { return "" }
            return text
        }.joined()
    }

    /// The text of a child element, trimmed; nil when the child is absent or empty.
    public func childText(_ name: String) -> String? {
        guard let text = child(name)?.text.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        return text
    }

    static func invalid(_ what: String, _ reason: String) -> LCMError {
        LCMError(.dataError, "libvirt XML: \(what) \(reason)", hint: "check the definition with `virsh dumpxml`")
    }

    // MARK: Editing

    public mutating func setAttribute(_ name: String, _ value: String?) {
        attributes.removeAll { $0.name == name }
        if let value { attributes.append((name: name, value: value)) }
    }

    /// Removes the child elements that match.
    public mutating func removeChildren(where matches: (XMLTree) -> Bool) {
        children.removeAll { $0.asElement.map(matches) ?? false }
    }

    /// Inserts `element` after the last child element named `after` (at the end when there is none).
    public mutating func insert(_ element: XMLTree, afterLast after: String) {
        let index = children.lastIndex { $0.asElement?.name == after }
        children.insert(.element(element), at: index.map { $0 + 1 } ?? children.endIndex)
    }

    /// Replaces the child elements for which `transform` gives a new element; returns how many.
    @discardableResult
    public mutating func replaceChildren(_ transform: (XMLTree) throws -> XMLTree?) rethrows -> Int {
        var count = 0
        for index in children.indices {
            guard case .element(let element) = children[index], let replacement = try transform(element) else { continue }
            children[index] = .element(replacement)
            count += 1
        }
        return count
    }

    // MARK: Parsing

    /// Parses a document libvirt returned, through `SafeXML`; `what` names it in errors.
    public static func parse(_ xml: String, what: String) throws -> XMLTree {
        let document = try SafeXML.libvirtDocument(xml, what: what, preserveWhitespace: true)
        guard let root = document.rootElement() else {
            throw LCMError(.unavailable, "libvirt returned \(what) without a root element")
        }
        return XMLTree(root)
    }

    init(_ element: XMLElement) {
        name = element.name ?? ""
        // Namespace declarations are kept as attributes so that an element written back (another
        // tool's <metadata>) still binds its prefixes.
        attributes = (element.namespaces ?? []).map { namespace in
            let prefix = namespace.name ?? ""
            return (name: prefix.isEmpty ? "xmlns" : "xmlns:\(prefix)", value: namespace.stringValue ?? "")
        } + (element.attributes ?? []).map { (name: $0.name ?? "", value: $0.stringValue ?? "") }
        var nodes: [Node] = []
        for child in element.children ?? [] {
            switch child.kind {
            case .element: if let child = child as? XMLElement { nodes.append(.element(XMLTree(child))) }
            case .text: nodes.append(.text(child.stringValue ?? ""))
            default: break // comments and processing instructions carry nothing lcm reads
            }
        }
        // Indentation between elements is not content.
        if nodes.contains(where: { $0.asElement != nil }) {
            nodes.removeAll { node in
                guard case .text(let text) = node else { return false }
                return text.allSatisfy(\.isWhitespace)
            }
        }
        children = nodes
    }

    // MARK: Writing

    /// The element as libvirt writes its own: attributes in single quotes, two spaces of
    /// indentation, an element whose children have no children of their own on one line.
    public var xmlString: String {
        var out = ""
        write(to: &out, indent: "")
        return out
    }

    private func write(to out: inout String, indent: String) {
        out += indent
        writeInline(to: &out, openOnly: true)
        if children.isEmpty {
            out += "/>\n"
            return
        }
        out += ">"
        let nested = elements.contains { !$0.elements.isEmpty }
        if !nested {
            for child in children { Self.write(child, to: &out) }
        } else {
            out += "\n"
            for child in children {
                switch child {
                case .element(let element): element.write(to: &out, indent: indent + "  ")
                case .text(let text): out += indent + "  " + Self.escapedText(text) + "\n"
                }
            }
            out += indent
        }
        out += "</\(name)>\n"
    }

    private func writeInline(to out: inout String, openOnly: Bool = false) {
        out += "<" + name
        for attribute in attributes {
            out += " \(attribute.name)='\(Self.escapedAttribute(attribute.value))'"
        }
        guard !openOnly else { return }
        if children.isEmpty {
            out += "/>"
            return
        }
        out += ">"
        for child in children { Self.write(child, to: &out) }
        out += "</\(name)>"
    }

    private static func write(_ node: Node, to out: inout String) {
        switch node {
        case .element(let element): element.writeInline(to: &out)
        case .text(let text): out += escapedText(text)
        }
    }

    /// Escapes text for element content. XML 1.0 cannot carry most C0 controls (even as character
    /// references) nor U+FFFE/U+FFFF: they become U+FFFD. A carriage return is written as a
    /// character reference, because a parser turns a literal one into a line feed.
    static func escapedText(_ text: String) -> String {
        escaped(text) { scalar in
            switch scalar {
            case "\t", "\n": return String(scalar)
            case "\r": return "&#13;"
            default: return nil
            }
        }
    }

    /// Escapes an attribute value: a parser turns literal tabs and line breaks in one into
    /// spaces, so they are written as character references. Also what the test fixtures use
    /// for answer files they write as text.
    public static func escapedAttribute(_ text: String) -> String {
        escaped(text) { scalar in
            switch scalar {
            case "\t": return "&#9;"
            case "\n": return "&#10;"
            case "\r": return "&#13;"
            default: return nil
            }
        }
    }

    private static func escaped(_ text: String, whitespace: (Unicode.Scalar) -> String?) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let kept = whitespace(scalar) { out += kept; continue }
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            case "\u{FFFE}", "\u{FFFF}": out += "\u{FFFD}"
            case _ where scalar.value < 0x20: out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// A libvirt object lcm writes or reads, as a typed value that one XML element encodes. Decoding
/// keeps the fields lcm owns and leaves out what libvirt adds (addresses, aliases, defaults);
/// an edit of a definition libvirt returned goes through the `XMLTree` so nothing else is lost.
public protocol LibvirtXMLElement: Sendable, Equatable {
    /// The element's name (`domain`, `disk`, `pool`, ...).
    static var elementName: String { get }
    init(element: XMLTree) throws
    var element: XMLTree { get }
}

extension LibvirtXMLElement {
    /// Reads the document libvirt returned (`virsh dumpxml`, `*GetXMLDesc`).
    public init(xml: String, what: String? = nil) throws {
        let what = what ?? "the \(Self.elementName)'s XML"
        let tree = try XMLTree.parse(xml, what: what)
        guard tree.name == Self.elementName else {
            throw LCMError(.unavailable, "libvirt returned \(what) with <\(tree.name)> where <\(Self.elementName)> was expected")
        }
        try self.init(element: tree)
    }

    /// The document lcm hands libvirt.
    public var xml: String { element.xmlString }

    /// Decodes a child element of this type, nil when absent.
    static func decode(_ parent: XMLTree) throws -> Self? {
        try parent.child(elementName).map(Self.init(element:))
    }

    /// Decodes every child element of this type, in order.
    static func decodeAll(_ parent: XMLTree) throws -> [Self] {
        try parent.children(elementName).map(Self.init(element:))
    }
}
