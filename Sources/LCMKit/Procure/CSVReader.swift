import Foundation

/// A problem in a CSV file's syntax, at a physical line (1-based; quoted fields may span lines,
/// so this is not the record number).
public struct CSVSyntaxError: Error, Sendable, Equatable {
    public var line: Int
    /// 1-based field position within the record, when known.
    public var field: Int?
    public var message: String
}

/// One record, with the physical line it starts on.
public struct CSVRecord: Sendable, Equatable {
    public var line: Int
    public var fields: [String]
}

/// An RFC 4180 reader: comma-separated, fields optionally in double quotes (which may hold commas,
/// line breaks and doubled quotes), CRLF or LF line ends. Also: a UTF-8 byte-order mark is skipped,
/// empty lines are skipped, and input must be UTF-8. Strict where a lenient reader would guess:
/// a quote inside an unquoted field or text after a closing quote is an error with its line.
public enum CSVReader {
    private static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")

    public static func parse(_ data: Data) throws -> [CSVRecord] {
        // Read the bytes in place: a copy would double the memory of a large file.
        try data.withUnsafeBytes { raw in try parse(buffer: raw.bindMemory(to: UInt8.self)) }
    }

    static func parse(buffer: UnsafeBufferPointer<UInt8>) throws -> [CSVRecord] {
        let n = buffer.count
        var i = 0
        if n >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { i = 3 }
        if n >= 2, (buffer[0] == 0xFF && buffer[1] == 0xFE) || (buffer[0] == 0xFE && buffer[1] == 0xFF) {
            throw CSVSyntaxError(line: 1, field: nil, message: "the file is UTF-16; save it as UTF-8 (\"CSV UTF-8\" in spreadsheets)")
        }
        var records: [CSVRecord] = []
        var fields: [String] = []
        var line = 1
        var recordLine = 1
        var scratch: [UInt8] = []
        scratch.reserveCapacity(256)

        func decode(_ start: Int, _ end: Int, field: Int, line: Int) throws -> String {
            if start == end { return "" }
            guard let text = String(validating: UnsafeBufferPointer(rebasing: buffer[start..<end]), as: UTF8.self) else {
                throw CSVSyntaxError(line: line, field: field, message: "is not valid UTF-8 text; save the file as UTF-8")
            }
            return text
        }

        while i < n {
            if fields.isEmpty {
                // Start of a record: skip empty lines.
                let c = buffer[i]
                if c == lf || c == cr {
                    i += (c == cr && i + 1 < n && buffer[i + 1] == lf) ? 2 : 1
                    line += 1
                    continue
                }
                recordLine = line
            }
            let fieldNumber = fields.count + 1
            let value: String
            if buffer[i] == quote {
                let openedOn = line
                i += 1
                scratch.removeAll(keepingCapacity: true)
                var closed = false
                while i < n {
                    let c = buffer[i]
                    if c == quote {
                        if i + 1 < n && buffer[i + 1] == quote {
                            scratch.append(quote); i += 2; continue
                        }
                        i += 1; closed = true; break
                    }
                    if c == lf || (c == cr && !(i + 1 < n && buffer[i + 1] == lf)) { line += 1 }
                    scratch.append(c)
                    i += 1
                }
                guard closed else {
                    throw CSVSyntaxError(line: openedOn, field: fieldNumber, message: "a quoted field opened here is never closed")
                }
                guard let text = String(validating: scratch, as: UTF8.self) else {
                    throw CSVSyntaxError(line: openedOn, field: fieldNumber, message: "is not valid UTF-8 text; save the file as UTF-8")
                }
                value = text
                if i < n, buffer[i] != comma, buffer[i] != lf, buffer[i] != cr {
                    throw CSVSyntaxError(line: line, field: fieldNumber,
                                         message: "has text after its closing quote; quote the whole field and double any quote inside it")
                }
            } else {
                let start = i
                while i < n {
                    let c = buffer[i]
                    if c == comma || c == lf || c == cr { break }
                    if c == quote {
                        throw CSVSyntaxError(line: line, field: fieldNumber,
                                             message: "has a quote inside an unquoted field; put the field in quotes and double the quote (\"\")")
                    }
                    i += 1
                }
                value = try decode(start, i, field: fieldNumber, line: line)
            }
            fields.append(CSVText.restored(value))
            if i < n && buffer[i] == comma {
                i += 1
                if i == n { fields.append("") } // "a,b," at end of file: a last, empty field
                continue
            }
            // End of record: a line break or the end of the file.
            if i < n {
                i += (buffer[i] == cr && i + 1 < n && buffer[i + 1] == lf) ? 2 : 1
                line += 1
            }
            records.append(CSVRecord(line: recordLine, fields: fields))
            fields = []
            fields.reserveCapacity(records.last?.fields.count ?? 8)
        }
        if !fields.isEmpty { records.append(CSVRecord(line: recordLine, fields: fields)) }
        return records
    }
}
