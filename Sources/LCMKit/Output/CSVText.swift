/// CSV cells as lcm writes and reads them: RFC 4180 quoting, and cells a spreadsheet would run as
/// a formula made inert.
///
/// A cell from the inventory may hold text from outside (a device's notes, a vendor's model name,
/// a user's name); opened in a spreadsheet, `=HYPERLINK(...)` or `@SUM(...)` would run. A cell
/// that starts with `=`, `+`, `-`, `@`, a tab or a carriage return, and is not a plain number, is
/// written with a leading `'`, which spreadsheets show as text; a cell that already starts with
/// `'` gets one more, so reading back (`restored`) removes exactly one and a round trip through
/// `procure export` and `procure import` keeps every value.
public enum CSVText {
    public static func field(_ text: String) -> String {
        quoted(neutralized(text))
    }

    /// The cell with a leading `'` when a spreadsheet would otherwise take it for a formula.
    public static func neutralized(_ text: String) -> String {
        guard let first = text.utf8.first else { return text }
        if first == apostrophe || (formulaStarts.contains(first) && !isPlainNumber(text)) { return "'" + text }
        return text
    }

    /// A cell read from CSV, with the mark `neutralized` added taken off again.
    public static func restored(_ cell: String) -> String {
        let bytes = cell.utf8
        guard bytes.count >= 2, bytes.first == apostrophe else { return cell }
        let second = bytes[bytes.index(after: bytes.startIndex)]
        guard second == apostrophe || formulaStarts.contains(second) else { return cell }
        return String(cell.dropFirst())
    }

    /// RFC 4180 quoting. Looks at bytes, not Characters: "\r\n" is one Character in Swift and
    /// equals neither "\r" nor "\n", so a Character test would leave such a field unquoted.
    static func quoted(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == comma || $0 == quote || $0 == 0x0A || $0 == 0x0D }) else { return text }
        var bytes: [UInt8] = [quote]
        bytes.reserveCapacity(text.utf8.count + 8)
        for byte in text.utf8 {
            if byte == quote { bytes.append(quote) }
            bytes.append(byte)
        }
        bytes.append(quote)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'")
    private static let formulaStarts: Set<UInt8> = [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D]

    /// `-12` or `+3.5`: a number, which a spreadsheet reads as a number and never runs.
    private static func isPlainNumber(_ text: String) -> Bool {
        var digits = 0, dots = 0
        for (index, byte) in text.utf8.enumerated() {
            switch byte {
            case UInt8(ascii: "+"), UInt8(ascii: "-"): if index != 0 { return false }
            case UInt8(ascii: "."): dots += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            default: return false
            }
        }
        return digits > 0 && dots <= 1
    }
}

/// Writes RFC 4180 CSV (CRLF line ends, fields quoted only when needed, formulas made inert).
public struct CSVWriter {
    public private(set) var text = ""

    public init(reserving capacity: Int = 0) { text.reserveCapacity(capacity) }

    public mutating func append(_ fields: [String]) {
        text += fields.map(CSVText.field).joined(separator: ",")
        text += "\r\n"
    }
}
