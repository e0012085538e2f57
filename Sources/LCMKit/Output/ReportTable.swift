import Foundation

/// A value in a report cell, typed so JSON keeps numbers as numbers.
public enum ReportValue: Sendable, Equatable {
    case text(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case null

    public var plain: String {
        switch self {
        case .text(let s): s
        case .integer(let i): String(i)
        case .number(let d): String(d)
        case .bool(let b): b ? "yes" : "no"
        case .null: ""
        }
    }
}

/// Tabular output shared by every listing: aligned text for people, CSV for spreadsheets,
/// a JSON array of objects for scripts.
public struct ReportTable: Sendable {
    public var columns: [String]
    public var rows: [[ReportValue]]
    /// Columns holding a JSON object (an event's details): text shows a one-line summary,
    /// JSON and CSV the object as stored.
    public var summarizedInText: Set<String> = []

    public init(columns: [String], rows: [[ReportValue]] = []) {
        self.columns = columns; self.rows = rows
    }

    public func render(_ format: OutputFormat) -> String {
        switch format {
        case .text: renderText()
        case .csv: renderCSV()
        case .json: renderJSON()
        }
    }

    func renderText() -> String {
        if rows.isEmpty { return "(none)\n" }
        var widths = columns.map(\.count)
        let summarized = Set(columns.indices.filter { summarizedInText.contains(columns[$0]) })
        let cells = rows.map { row in
            row.enumerated().map { index, value in
                (summarized.contains(index) ? JSONSummary.line(value.plain) : value.plain).replacingOccurrences(of: "\n", with: " ")
            }
        }
        for row in cells { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ values: [String]) -> String {
            values.enumerated().map { i, v in i == values.count - 1 ? v : v.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        var out = line(columns.map { $0.uppercased() }) + "\n"
        out.reserveCapacity(cells.count * (widths.reduce(0, +) + 2 * widths.count))
        for row in cells { out += line(row) + "\n" }
        return out
    }

    func renderCSV() -> String {
        var out = columns.map(CSVText.field).joined(separator: ",") + "\r\n"
        for row in rows { out += row.map { CSVText.field($0.plain) }.joined(separator: ",") + "\r\n" }
        return out
    }

    func renderJSON() -> String {
        var out = "["
        out.reserveCapacity(rows.count * columns.count * 24)
        for (r, row) in rows.enumerated() {
            out += r == 0 ? "\n  {" : ",\n  {"
            for (i, column) in columns.enumerated() {
                if i > 0 { out += ", " }
                out += JSONText.string(column) + ": " + JSONText.value(i < row.count ? row[i] : .null)
            }
            out += "}"
        }
        out += rows.isEmpty ? "]\n" : "\n]\n"
        return out
    }
}

/// JSON encoding of single values, for streaming output without building object graphs.
public enum JSONText {
    public static func string(_ text: String) -> String {
        // Most values need no escaping: skip the per-scalar loop for them.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    public static func value(_ value: ReportValue) -> String {
        switch value {
        case .text(let s): string(s)
        case .integer(let i): String(i)
        case .number(let d): d.isFinite ? String(d) : "null"
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }
}

/// A JSON object as one line a person reads: `key: value, key: value` in key order; text that is
/// no JSON object is returned as it is.
public enum JSONSummary {
    public static func line(_ text: String) -> String {
        guard text.hasPrefix("{"), let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return text }
        return object.keys.sorted().map { key in "\(key): \(value(object[key]!))" }.joined(separator: ", ")
    }

    private static func value(_ value: Any) -> String {
        switch value {
        case let text as String: text
        case let list as [Any]: list.map(Self.value).joined(separator: " ")
        case let object as [String: Any]: "(" + object.keys.sorted().map { "\($0): \(Self.value(object[$0]!))" }.joined(separator: ", ") + ")"
        case is NSNull: "null"
        default: "\(value)"
        }
    }
}
