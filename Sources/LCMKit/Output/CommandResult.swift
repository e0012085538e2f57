import Foundation

/// A command's result with its renderings chosen once: text for people, JSON for scripts, CSV
/// for spreadsheets when it is a table. The command layer renders it in the format the admin
/// asked for (one function, one JSON encoder), prints `problems` on stderr and exits with
/// `exitCode`.
public protocol CommandResult {
    /// For people; `quiet` asks for the short form cron mails (a summary line, no passes).
    func text(quiet: Bool) -> String
    /// For scripts: stable, keys sorted (`JSONOutput`), or a table's columns in order.
    func json() throws -> String
    /// For spreadsheets; nil when the result is no table (the command then refuses
    /// `--format csv` before it runs).
    func csv() -> String?
    /// Lines for people on stderr after the text ("note: ..."); not in JSON or CSV, not with --quiet.
    var notes: [String] { get }
    /// Errors on stderr after the result in every format: a batch's failed items, a check's reasons.
    var problems: [LCMError] { get }
    /// The process's exit code (`LCMExitCode`, or a failed item's own code).
    var exitCode: Int32 { get }
}

extension CommandResult {
    public func csv() -> String? { nil }
    public var notes: [String] { [] }
    public var problems: [LCMError] { [] }
    public var exitCode: Int32 { 0 }
}

/// The one JSON encoding of results: pretty, keys sorted so output is stable, ISO 8601 dates.
public enum JSONOutput {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
    }
}

/// A Codable value as a result: JSON is the value as it is, text the rendering given with it.
/// CSV, when there is one, is `table`'s.
public struct Rendered<Value: Encodable>: CommandResult {
    public var value: Value
    public var table: ReportTable?
    public var notes: [String]
    public var problems: [LCMError]
    public var exitCode: Int32
    private let render: (Value, Bool) -> String

    public init(_ value: Value, table: ReportTable? = nil, notes: [String] = [], problems: [LCMError] = [], exitCode: Int32 = 0,
                text: @escaping (Value, _ quiet: Bool) -> String) {
        self.value = value; self.table = table; self.notes = notes; self.problems = problems; self.exitCode = exitCode
        render = text
    }

    public init(_ value: Value, table: ReportTable? = nil, notes: [String] = [], problems: [LCMError] = [], exitCode: Int32 = 0,
                text: @escaping (Value) -> String) {
        self.init(value, table: table, notes: notes, problems: problems, exitCode: exitCode) { value, _ in text(value) }
    }

    public func text(quiet: Bool) -> String { render(value, quiet) }
    public func json() throws -> String { try JSONOutput.encode(value) }
    public func csv() -> String? { table?.renderCSV() }
}

/// A change told to people as a message on stderr (nothing on stdout in text), and to scripts
/// and spreadsheets as the changed record's table.
public struct Announced: CommandResult {
    public var table: ReportTable
    public var message: String

    public init(_ table: ReportTable, message: String) { self.table = table; self.message = message }

    public func text(quiet: Bool) -> String { "" }
    public func json() throws -> String { table.renderJSON() }
    public func csv() -> String? { table.renderCSV() }
    public var notes: [String] { [message] }
}

extension ReportTable: CommandResult {
    public func text(quiet: Bool) -> String { renderText() }
    public func json() throws -> String { renderJSON() }
    public func csv() -> String? { renderCSV() }
}

/// Records shown one field per line in text ("name             value"); JSON and CSV are the table's.
public struct RecordView: CommandResult {
    public var table: ReportTable
    /// A blank line after each record (several records in one listing).
    public var separated: Bool

    public init(_ table: ReportTable, separated: Bool) { self.table = table; self.separated = separated }

    public func text(quiet: Bool) -> String {
        var fields = FieldList()
        for row in table.rows {
            for (column, value) in zip(table.columns, row) { fields.add(column, value.plain) }
            if separated { fields.text += "\n" }
        }
        return fields.text
    }
    public func json() throws -> String { table.renderJSON() }
    public func csv() -> String? { table.renderCSV() }
}

/// Lines of "name  value" with the names padded to one width: how a record reads in text.
public struct FieldList {
    public var text = ""
    public let width: Int
    public let indent: String

    public init(width: Int = 16, indent: String = "") { self.width = width; self.indent = indent }

    public mutating func add(_ name: String, _ value: String) {
        text += "\(indent)\(name.padding(toLength: width, withPad: " ", startingAt: 0)) \(value)\n"
    }
}

/// A result that is text and nothing else (a certificate file, a PEM key, a message); JSON
/// gets the value given for it.
public struct PlainText: CommandResult {
    public var content: String
    public init(_ content: String) { self.content = content }
    public func text(quiet: Bool) -> String { content }
    public func json() throws -> String { content }
}
