import Foundation
import Guestfs

/// A registry file as `regedit /e` writes it (`Windows Registry Editor Version 5.00` in UTF-16LE,
/// or `REGEDIT4`), parsed completely before anything is applied, so a malformed file is refused
/// with its line named and no hive touched.
///
/// Supported: `[KEY]` (created if missing), `[-KEY]` (deleted with its subkeys), `"name"="text"`,
/// `@=...` (the default value), `dword:`, `hex:` and `hex(N):` data with `\` continuation lines,
/// `;` comments. Not supported offline, refused by line: deleting a single value (`"name"=-`:
/// libguestfs's registry API cannot remove one value), and roots without an offline hive
/// (HKEY_CURRENT_USER, HKEY_USERS, HKEY_CURRENT_CONFIG, HKLM\SAM, HKLM\SECURITY, HKLM\HARDWARE).
public struct RegFile: Sendable, Equatable {
    /// The offline hive a key lives in.
    public enum Hive: String, Sendable, Equatable, CaseIterable {
        case software = "SOFTWARE"
        case system = "SYSTEM"
    }

    /// A key inside one hive; `CurrentControlSet` is left as written, for the applier to resolve.
    public struct Key: Sendable, Equatable, CustomStringConvertible {
        public var hive: Hive
        public var path: [String]
        public var description: String { ([hive == .software ? "HKLM\\SOFTWARE" : "HKLM\\SYSTEM"] + path).joined(separator: "\\") }
    }

    public enum Change: Sendable, Equatable {
        /// `[KEY]`: the key exists afterwards (created with missing parents).
        case createKey(Key)
        /// `[-KEY]`: the key and everything under it is gone afterwards.
        case deleteKey(Key)
        /// A value set under `key`; `name` is empty for the default value (`@`).
        case setValue(Key, name: String, RegistryValue)
    }

    /// The file's name, for messages.
    public let name: String
    /// One change and the line it came from.
    public struct Entry: Sendable, Equatable {
        public let line: Int
        public let change: Change
    }

    /// Changes in file order.
    public let changes: [Entry]

    /// Parses `data`. Throws `dataError` naming the file and line of the first problem.
    public init(data: Data, name: String) throws {
        self.name = name
        let text = try Self.decode(data, name: name)
        var lines = Self.logicalLines(text)
        guard let header = lines.first?.text.trimmingBlanks(),
              header == "Windows Registry Editor Version 5.00" || header == "REGEDIT4" else {
            throw Self.error(name, 1, "the first line must be \"Windows Registry Editor Version 5.00\" or \"REGEDIT4\"",
                             hint: "export the keys with regedit, or start the file with that line")
        }
        lines.removeFirst()
        var changes: [Entry] = []
        var currentKey: Key?
        for (raw, number) in lines {
            let line = raw.trimmingBlanks()
            if line.isEmpty || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw Self.error(name, number, "a key line must end with \"]\"") }
                var inner = String(line.dropFirst().dropLast())
                let deleting = inner.hasPrefix("-")
                if deleting { inner.removeFirst() }
                let key = try Self.key(inner, name, number)
                changes.append(Entry(line: number, change: deleting ? .deleteKey(key) : .createKey(key)))
                currentKey = deleting ? nil : key
                continue
            }
            guard let key = currentKey else {
                throw Self.error(name, number, "a value outside a key (it must follow a [KEY] line that does not delete)")
            }
            let (valueName, data) = try Self.splitAssignment(line, name, number)
            changes.append(Entry(line: number, change: .setValue(key, name: valueName, try Self.value(data, name, number))))
        }
        self.changes = changes
    }

    /// Reads and parses the file at `path`.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LCMError(.notFound, "cannot read \(path)", hint: "check the path and its permissions")
        }
        try self.init(data: data, name: URL(fileURLWithPath: path).lastPathComponent)
    }

    /// The hives the file writes to.
    public var hives: Set<Hive> {
        Set(changes.map { change -> Hive in
            switch change.change {
            case .createKey(let key), .deleteKey(let key), .setValue(let key, _, _): key.hive
            }
        })
    }

    // MARK: - Parsing

    private static func decode(_ data: Data, name: String) throws -> String {
        let bytes = [UInt8](data)
        if let text = UTF16Text.decode(bytes) {
            guard bytes.count % 2 == 0 else { throw error(name, 1, "odd length for a UTF-16 file: it is cut short") }
            return text
        }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        if let text = String(validatingUTF8: body.map { CChar(bitPattern: $0) } + [0]), !body.contains(0) { return text }
        // REGEDIT4 files are in the ANSI code page; Windows-1252 is what such exports mostly use.
        guard let text = String(data: Data(body), encoding: .windowsCP1252), !body.contains(0) else {
            throw error(name, 1, "the file is neither UTF-16 with a byte-order mark, UTF-8 nor Windows-1252 text")
        }
        return text
    }

    /// Lines with `\` continuations joined (hex data spans lines), each numbered by its first line.
    /// A continued value grows by appending each physical line once: a regedit export of one large
    /// REG_BINARY is hundreds of thousands of lines, and re-reading or copying what came before
    /// at every line made parsing quadratic (a 320 KB file took 34 s).
    private static func logicalLines(_ text: String) -> [(text: String, line: Int)] {
        var result: [(text: String, line: Int)] = []
        // Kept out of an optional tuple so that appending mutates the one buffer in place.
        var continued = ""
        var continuedFrom: Int?
        for (offset, rawLine) in physicalLines(text).enumerated() {
            guard let number = continuedFrom else {
                let line = String(rawLine)
                let trimmed = line.trimmingBlanks()
                if trimmed.hasSuffix("\\"), isHexData(trimmed) {
                    continued = String(trimmed.dropLast())
                    continuedFrom = offset + 1
                } else {
                    result.append((line, offset + 1))
                }
                continue
            }
            // Hex data with more appended is still hex data, so only the new end decides whether
            // the value goes on; an empty line leaves the old end, minus its trailing blanks.
            let piece = rawLine.trimmingBlanks()
            if piece.isEmpty {
                while let last = continued.unicodeScalars.last, last.isBlank {
                    continued.unicodeScalars.removeLast()
                }
            } else {
                continued.append(piece)
            }
            if continued.hasSuffix("\\") {
                continued.removeLast()
            } else {
                result.append((continued, number))
                continued = ""
                continuedFrom = nil
            }
        }
        if let number = continuedFrom { result.append((continued, number)) }
        return result
    }

    /// The lines of `text` as the old `replacingOccurrences("\r\n", "\n")` then a split at "\n"
    /// gave them, found in one pass over the UTF-8: Foundation's calls cost about 2 s on 20 MB.
    /// CR LF ends a line as LF does; a lone CR stays in its line. Only "\r\r\n" (which that
    /// replacement turned into a CR LF character the split did not cut) goes the old way.
    private static func physicalLines(_ text: String) -> [Substring] {
        let utf8 = text.utf8
        var lines: [Substring] = []
        var start = utf8.startIndex, index = utf8.startIndex
        var previous: UInt8 = 0, beforePrevious: UInt8 = 0
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "\n") {
                if previous == UInt8(ascii: "\r") && beforePrevious == UInt8(ascii: "\r") {
                    return text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
                        .map { Substring($0) }
                }
                let end = previous == UInt8(ascii: "\r") ? utf8.index(before: index) : index
                lines.append(Substring(utf8[start..<end]))
                start = utf8.index(after: index)
            }
            beforePrevious = previous
            previous = byte
            index = utf8.index(after: index)
        }
        lines.append(Substring(utf8[start..<utf8.endIndex]))
        return lines
    }

    /// Whether a value line carries hex data (only those continue over lines).
    private static func isHexData(_ line: String) -> Bool {
        guard let equals = assignmentSplit(line) else { return false }
        return line[line.index(after: equals)...].lowercased().hasPrefix("hex")
    }

    /// The `=` between a value's name and its data (names are quoted and may contain `=`).
    private static func assignmentSplit(_ line: String) -> String.Index? {
        if line.hasPrefix("@") {
            let rest = line.dropFirst().drop { $0 == " " || $0 == "\t" }
            return rest.first == "=" ? rest.startIndex : nil
        }
        guard line.hasPrefix("\"") else { return nil }
        var index = line.index(after: line.startIndex)
        while index < line.endIndex {
            let character = line[index]
            if character == "\\" {
                index = line.index(after: index)
                if index < line.endIndex { index = line.index(after: index) }
                continue
            }
            if character == "\"" {
                let rest = line[line.index(after: index)...].drop { $0 == " " || $0 == "\t" }
                return rest.first == "=" ? rest.startIndex : nil
            }
            index = line.index(after: index)
        }
        return nil
    }

    private static func splitAssignment(_ line: String, _ file: String, _ number: Int) throws -> (String, String) {
        guard let equals = assignmentSplit(line) else {
            throw error(file, number, "expected \"name\"=data or @=data")
        }
        let left = line[..<equals].trimmingBlanks()
        let data = line[line.index(after: equals)...].trimmingBlanks()
        if left == "@" { return ("", data) }
        let name = try unquote(left, file, number)
        guard !name.isEmpty else { throw error(file, number, "an empty value name (the default value is written @=...)") }
        return (name, data)
    }

    /// The text between quotes with regedit's two escapes (`\\` and `\"`) undone.
    private static func unquote(_ quoted: String, _ file: String, _ number: Int) throws -> String {
        guard quoted.count >= 2, quoted.hasPrefix("\""), quoted.hasSuffix("\"") else {
            throw error(file, number, "expected a quoted string, found \(shown(quoted))")
        }
        var result = ""
        var escaping = false
        for character in quoted.dropFirst().dropLast() {
            if escaping {
                guard character == "\\" || character == "\"" else {
                    throw error(file, number, "unknown escape \\\(character) in a string (only \\\\ and \\\" are escapes)")
                }
                result.append(character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else if character == "\"" {
                throw error(file, number, "an unescaped quote inside a string (write \\\")")
            } else {
                result.append(character)
            }
        }
        guard !escaping else { throw error(file, number, "a string ends with a lone backslash (write \\\\)") }
        return result
    }

    private static func value(_ data: String, _ file: String, _ number: Int) throws -> RegistryValue {
        if data == "-" {
            throw error(file, number, "deleting a single value is not supported offline (libguestfs's registry API cannot remove one value)",
                        hint: "set the value to what Windows should see, or delete and recreate its key")
        }
        if data.hasPrefix("\"") { return .string(try unquote(data, file, number)) }
        let lower = data.lowercased()
        if lower.hasPrefix("dword:") {
            let digits = data.dropFirst(6)
            guard (1...8).contains(digits.count), let number32 = UInt32(digits, radix: 16) else {
                throw error(file, number, "dword data must be 1 to 8 hex digits, found \(shown(String(digits)))")
            }
            return .dword(number32)
        }
        guard lower.hasPrefix("hex") else {
            throw error(file, number, "unknown data \(shown(data)) (expected \"text\", dword:, hex: or hex(N):)")
        }
        var rest = lower.dropFirst(3)
        var type = RegistryValueType.binary
        if rest.hasPrefix("(") {
            guard let close = rest.firstIndex(of: ")"), let code = UInt32(rest[rest.index(after: rest.startIndex)..<close], radix: 16) else {
                throw error(file, number, "hex(N): needs a hexadecimal type number, found \(shown(data))")
            }
            type = RegistryValueType(rawValue: code)
            rest = rest[rest.index(after: close)...]
        }
        guard rest.hasPrefix(":") else { throw error(file, number, "expected \":\" after hex, found \(shown(data))") }
        if let bytes = plainHexBytes(rest.dropFirst().utf8) { return RegistryValue(type: type, data: bytes) }
        // Anything else (empty, signs, non-ASCII blanks, mistakes) goes the general way, which
        // also words the error.
        let list = rest.dropFirst().split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingBlanks() }
        var bytes: [UInt8] = []
        if !(list.count == 1 && list[0].isEmpty) {
            for item in list {
                guard item.count == 2 || item.count == 1, let byte = UInt8(item, radix: 16) else {
                    throw error(file, number, "hex data must be comma-separated bytes such as 0a,ff; found \(shown(item))")
                }
                bytes.append(byte)
            }
        }
        return RegistryValue(type: type, data: bytes)
    }

    /// Bytes from hex data as regedit writes it (`0a,ff, 00`: one or two hex digits per item,
    /// spaces or tabs around them), read straight from the UTF-8 at a few nanoseconds a byte;
    /// nil for any other form. A 20 MB value went through a Foundation call per byte before.
    private static func plainHexBytes(_ list: Substring.UTF8View) -> [UInt8]? {
        guard !list.isEmpty else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(list.count / 3 + 1)
        var value: UInt8 = 0, digits = 0, blankAfterDigit = false
        for character in list {
            switch character {
            case UInt8(ascii: ","):
                guard digits > 0 else { return nil }
                bytes.append(value)
                value = 0; digits = 0; blankAfterDigit = false
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { blankAfterDigit = true }
            default:
                guard let digit = hexDigit(character), digits < 2, !blankAfterDigit else { return nil }
                value = value << 4 | digit
                digits += 1
            }
        }
        guard digits > 0 else { return nil }
        bytes.append(value)
        return bytes
    }

    private static func hexDigit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func key(_ text: String, _ file: String, _ number: Int) throws -> Key {
        let parts = text.split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: \.isEmpty) else {
            throw error(file, number, "empty key name in [\(text)] (doubled or trailing backslash)")
        }
        // Windows's own limits: a key path deeper than this, or a longer key name, cannot exist in
        // a hive Windows reads.
        guard parts.count <= maximumKeyDepth else {
            throw error(file, number, "[\(shown(text))] is \(parts.count) levels deep; Windows allows \(maximumKeyDepth)")
        }
        if let long = parts.first(where: { $0.utf16.count > maximumKeyNameLength }) {
            throw error(file, number, "the key name \(shown(long)) is \(long.utf16.count) characters long; Windows allows \(maximumKeyNameLength)")
        }
        let root = parts[0].uppercased()
        switch root {
        case "HKEY_LOCAL_MACHINE", "HKLM":
            guard parts.count >= 2 else { throw error(file, number, "[\(text)] names no hive (HKLM\\SOFTWARE or HKLM\\SYSTEM)") }
            switch parts[1].uppercased() {
            case "SOFTWARE": return Key(hive: .software, path: Array(parts.dropFirst(2)))
            case "SYSTEM": return Key(hive: .system, path: Array(parts.dropFirst(2)))
            default:
                throw error(file, number, "HKLM\\\(parts[1]) cannot be changed offline (only SOFTWARE and SYSTEM)")
            }
        case "HKEY_CLASSES_ROOT", "HKCR":
            return Key(hive: .software, path: ["Classes"] + parts.dropFirst())
        case "HKEY_CURRENT_USER", "HKCU", "HKEY_USERS", "HKU":
            throw error(file, number, "\(parts[0]) has no offline hive: user settings load only when that user logs on",
                        hint: "set machine-wide policy under HKEY_LOCAL_MACHINE, or stage a .ps1/.cmd that runs at boot")
        default:
            throw error(file, number, "unknown or unsupported root key \(shown(parts[0])) (HKEY_LOCAL_MACHINE or HKEY_CLASSES_ROOT)")
        }
    }

    static let maximumKeyDepth = 512
    static let maximumKeyNameLength = 255

    private static func shown(_ text: String) -> String {
        let short = text.count > 40 ? String(text.prefix(40)) + "…" : text
        return "\"\(short)\""
    }

    private static func error(_ file: String, _ line: Int, _ message: String, hint: String? = nil) -> LCMError {
        LCMError(.dataError, "\(file) line \(line): \(message)", hint: hint ?? "fix that line; nothing was changed")
    }
}

private extension StringProtocol {
    /// `trimmingCharacters(in: .whitespaces)` (general category Zs and tab), without the trip
    /// through NSString that costs microseconds a call on Linux: a .reg file has one line per value.
    func trimmingBlanks() -> String {
        let text = String(self)
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isBlank }), let last = scalars.lastIndex(where: { !$0.isBlank }) else {
            return ""
        }
        return String(scalars[first...last])
    }
}

private extension Unicode.Scalar {
    /// In `CharacterSet.whitespaces`: a tab or a space separator (Zs).
    var isBlank: Bool {
        if value < 0x80 { return value == 0x20 || value == 0x09 }
        return properties.generalCategory == .spaceSeparator
    }
}
