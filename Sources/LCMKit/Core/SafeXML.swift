import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The one way lcm parses XML: libvirt's documents, answer files from images, anything.
///
/// Why: FoundationXML hands documents to libxml2, which reads a document type declaration and can
/// expand entities from it, including external ones (`<!ENTITY x SYSTEM "file:///etc/shadow">`):
/// an answer file inside a golden image could then copy any host file lcm can read, as root, into
/// every desktop, and an internal entity can be made to grow without bound. No document lcm reads
/// needs a DTD (libvirt writes none; Windows Setup's answer files have none), so a document with a
/// DOCTYPE or an entity declaration is refused before libxml2 sees it, and the parse runs with
/// external entity loading off as well.
public enum SafeXML {
    /// Why a document was refused or could not be parsed; `source` names it ("the answer file
    /// Windows/Panther/unattend.xml", "the domain's XML").
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public var source: String
        public var reason: String
        public var description: String { "\(source) \(reason)" }
    }

    /// Parses a document lcm did not write itself.
    public static func document(_ data: Data, source: String, preserveAll: Bool = false,
                                preserveWhitespace: Bool = false) throws -> XMLDocument {
        try refuseDeclarations(in: data, source: source)
        // FoundationXML traps on a document with no markup at all instead of throwing.
        guard data.contains(where: { !(" \t\r\n".utf8.contains($0)) }) else {
            throw Refusal(source: source, reason: "is empty")
        }
        do {
            var preserving: XMLNode.Options = []
            if preserveAll { preserving.insert(.nodePreserveAll) }
            if preserveWhitespace { preserving.insert(.nodePreserveWhitespace) }
            // External entities off here too, whatever the check above let through.
            return try XMLDocument(data: data, options: preserving.union(.nodeLoadExternalEntitiesNever))
        } catch {
            throw Refusal(source: source, reason: "is not well-formed XML")
        }
    }

    public static func document(_ text: String, source: String, preserveAll: Bool = false,
                                preserveWhitespace: Bool = false) throws -> XMLDocument {
        try document(Data(text.utf8), source: source, preserveAll: preserveAll, preserveWhitespace: preserveWhitespace)
    }

    /// Refuses a DOCTYPE or ENTITY declaration in any encoding libxml2 would read the bytes in.
    static func refuseDeclarations(in data: Data, source: String) throws {
        let bytes = [UInt8](data.prefix(4))
        let text: String
        switch bytes {
        case _ where bytes.starts(with: [0xFF, 0xFE]) || (bytes.count >= 2 && bytes[0] == 0x3C && bytes[1] == 0x00):
            text = String(decoding: utf16Units(data.dropFirst(bytes.starts(with: [0xFF, 0xFE]) ? 2 : 0), bigEndian: false), as: UTF16.self)
        case _ where bytes.starts(with: [0xFE, 0xFF]) || (bytes.count >= 2 && bytes[0] == 0x00 && bytes[1] == 0x3C):
            text = String(decoding: utf16Units(data.dropFirst(bytes.starts(with: [0xFE, 0xFF]) ? 2 : 0), bigEndian: true), as: UTF16.self)
        case [0x00, 0x00, 0x00, 0x3C], [0x3C, 0x00, 0x00, 0x00], [0x00, 0x00, 0xFE, 0xFF], [0xFF, 0xFE, 0x00, 0x00],
             [0x4C, 0x6F, 0xA7, 0x94]:
            throw Refusal(source: source, reason: "is in an encoding lcm does not read (UCS-4 or EBCDIC); save it as UTF-8")
        default:
            // UTF-8 and the single-byte encodings share ASCII's bytes for the markup looked for.
            text = String(decoding: data, as: UTF8.self)
        }
        for declaration in ["<!DOCTYPE", "<!ENTITY"] where text.range(of: declaration, options: .caseInsensitive) != nil {
            throw Refusal(source: source, reason: "contains a document type or entity declaration (\(declaration)), which lcm never reads: entities could pull in host files")
        }
    }

    private static func utf16Units(_ data: Data, bigEndian: Bool) -> [UInt16] {
        var units: [UInt16] = []
        units.reserveCapacity(data.count / 2)
        var index = data.startIndex
        while index + 1 < data.endIndex {
            let first = UInt16(data[index]), second = UInt16(data[index + 1])
            units.append(bigEndian ? first << 8 | second : second << 8 | first)
            index += 2
        }
        return units
    }
}

extension SafeXML.Refusal {
    /// The refusal as the error users see (exit 65: the document's content is the problem).
    public func lcmError(hint: String) -> LCMError { LCMError(.dataError, description, hint: hint) }
}

extension SafeXML {
    /// A document libvirt returned (domain, snapshot, volume XML). libvirt never writes a DTD,
    /// so a refusal means the definition was made outside lcm by someone who put one there.
    public static func libvirtDocument(_ xml: String, what: String, preserveAll: Bool = false,
                                       preserveWhitespace: Bool = false) throws -> XMLDocument {
        do {
            return try document(xml, source: what, preserveAll: preserveAll, preserveWhitespace: preserveWhitespace)
        } catch let refusal as Refusal {
            throw LCMError(.unavailable, "libvirt returned \(refusal.description)",
                           hint: "check the definition with `virsh dumpxml`; it was changed outside lcm")
        }
    }
}
