import Foundation

/// The rule for one kind of name lcm turns into file names, libvirt object names or rows,
/// checked byte by byte over the whole string. (A regular expression anchored with `$` also
/// matches before a final newline, which let "name\n" through.)
public struct NameRule: Sendable {
    /// What the name names, for messages: "desktop name", "image version".
    public let kind: String
    public let maxLength: Int
    /// Punctuation allowed besides ASCII letters and digits.
    public let punctuation: Set<UInt8>
    /// Whether the first character may be punctuation (otherwise a letter or digit).
    public let punctuationFirst: Bool
    public let hint: String

    public func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...maxLength).contains(bytes.count) else { return false }
        guard Self.isAlphanumeric(bytes[0]) || (punctuationFirst && punctuation.contains(bytes[0])) else { return false }
        return bytes.allSatisfy { Self.isAlphanumeric($0) || punctuation.contains($0) }
    }

    /// Throws a usage error (exit 64) naming the kind, the name as it can be shown, what is wrong
    /// with it, and the rule.
    public func validate(_ name: String) throws {
        guard isValid(name) else {
            throw LCMError(.usage, "invalid \(kind) '\(Self.printable(name))': \(problem(name))", hint: hint)
        }
    }

    /// What is wrong with a name `isValid` refuses, in the words of a message.
    func problem(_ name: String) -> String {
        let scalars = name.unicodeScalars
        guard !scalars.isEmpty else { return "it cannot be empty" }
        guard scalars.count <= maxLength else {
            return "it is \(scalars.count) characters long; at most \(maxLength) are allowed"
        }
        func allowed(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (Self.isAlphanumeric(UInt8(scalar.value)) || punctuation.contains(UInt8(scalar.value)))
        }
        if let bad = scalars.first(where: { !allowed($0) }) {
            return "it contains \(Self.describe(bad)), which is not allowed"
        }
        // Every character is allowed, so the first is punctuation where it may not be.
        return "it must start with a letter or digit"
    }

    /// One character of a refused name, as a message shows it.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let code = "U+" + String(format: "%04X", scalar.value)
        switch scalar {
        case "/": return "'/' (a path separator)"
        case " ": return "a space"
        case _ where scalar.properties.generalCategory == .control: return "a control character (\(code))"
        case _ where scalar.isASCII: return "'\(Character(scalar))'"
        default: return "the non-ASCII character '\(Character(scalar))' (\(code))"
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    /// A name as it can be shown in one line of an error: control characters escaped, long ones cut.
    public static func printable(_ text: String) -> String {
        let escaped = text.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return escaped.count > 80 ? String(escaped.prefix(77)) + "..." : escaped
    }

    private static func bytes(_ text: String) -> Set<UInt8> { Set(text.utf8) }

    /// Desktop names become libvirt domain names, volume names (`<name>-os.qcow2`), file names on
    /// the device (`<name>.log`, `<name>.save`, `<name>-swtpm.log`), a lock file name and a default
    /// computer name. No '.': retire finds a domain's files by the prefix `<name>.`, which a
    /// desktop named `<name>.log` would share; at most 63, a DNS label's length.
    public static let desktop = NameRule(kind: "desktop name", maxLength: 63, punctuation: bytes("_-"), punctuationFirst: false,
                                         hint: "use 1-63 ASCII letters, digits, '-' or '_', starting with a letter or digit")
    /// Image names and versions become file names and appear in domain XML.
    public static let image = NameRule(kind: "image name", maxLength: 64, punctuation: bytes("._-"), punctuationFirst: false,
                                       hint: "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    public static let imageVersion = NameRule(kind: "image version", maxLength: 64, punctuation: bytes("._-"), punctuationFirst: false,
                                              hint: "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. 2026.12 or 3)")
    /// Requirement profiles and license pools: rows only.
    public static let profile = NameRule(kind: "profile name", maxLength: 64, punctuation: bytes("._-"), punctuationFirst: true,
                                         hint: "use 1-64 ASCII letters, digits, '.', '_' or '-'")
}
