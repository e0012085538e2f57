import Foundation
import LCMKit
import Testing

/// The RFC 4180 reader: what spreadsheets and scripts really write, and physical line numbers.
@Suite struct ProcureCSVTests {
    func parse(_ text: String) throws -> [CSVRecord] {
        try CSVReader.parse(Data(text.utf8))
    }

    func syntaxError(_ text: String) -> CSVSyntaxError? {
        do {
            _ = try CSVReader.parse(Data(text.utf8))
        } catch let error as CSVSyntaxError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    @Test func quotedFieldsHoldCommasQuotesAndLineBreaks() throws {
        let records = try parse("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\nlast,row,here\n")
        #expect(records.map(\.fields) == [["a", "b", "c"], ["x, y", "say \"hi\"", "two\nlines"], ["last", "row", "here"]])
        // The record after a two-line field starts on physical line 4, not record 3.
        #expect(records.map(\.line) == [1, 2, 4])
    }

    @Test func byteOrderMarkCRLFAndBlankLines() throws {
        let text = "\u{FEFF}asset_tag,serial\r\n\r\nPC-1,S1\r\n   \r\n\r\nPC-2,\"S\r\n2\"\r\n\r\n"
        let records = try parse(text)
        #expect(records.first?.fields == ["asset_tag", "serial"]) // BOM not part of the first header
        #expect(records.count == 4)
        #expect(records[1].fields == ["PC-1", "S1"])
        #expect(records[1].line == 3)
        // A whitespace-only line is a record; the importer treats all-blank records as blank lines.
        #expect(records[2].fields == ["   "])
        #expect(records[3].fields == ["PC-2", "S\r\n2"])
        #expect(records[3].line == 6)
    }

    @Test func emptyFieldsTrailingCommaAndNoFinalNewline() throws {
        #expect(try parse("a,,c").map(\.fields) == [["a", "", "c"]])
        #expect(try parse("a,b,\n").map(\.fields) == [["a", "b", ""]])
        #expect(try parse("a,b,").map(\.fields) == [["a", "b", ""]])
        #expect(try parse(",\n").map(\.fields) == [["", ""]])
        #expect(try parse("\"\"").map(\.fields) == [[""]])
        #expect(try parse("").isEmpty)
        #expect(try parse("\n\n\r\n").isEmpty)
        #expect(try parse("x\ry\r").map(\.fields) == [["x"], ["y"]]) // old Mac line ends
    }

    @Test func unicodeIsKept() throws {
        #expect(try parse("Müller,Žižek,東京,🙂").first?.fields == ["Müller", "Žižek", "東京", "🙂"])
    }

    @Test func malformedQuotingIsAnErrorWithItsLine() {
        let unclosed = syntaxError("a,b\nc,\"never\nclosed\n")
        #expect(unclosed?.line == 2)
        #expect(unclosed?.field == 2)
        #expect(unclosed?.message.contains("never closed") == true)

        let stray = syntaxError("a,b\nc,d\ne,5\" screen\n")
        #expect(stray?.line == 3)
        #expect(stray?.field == 2)
        #expect(stray?.message.contains("quote") == true)

        let trailing = syntaxError("a,\"b\"c\n")
        #expect(trailing?.line == 1)
        #expect(trailing?.message.contains("after its closing quote") == true)
    }

    @Test func encodingProblemsAreNamed() {
        let utf16 = Data([0xFF, 0xFE]) + "a,b".data(using: .utf16LittleEndian)!
        do {
            _ = try CSVReader.parse(utf16)
            Issue.record("read UTF-16 as UTF-8")
        } catch let error as CSVSyntaxError {
            #expect(error.message.contains("UTF-16"))
        } catch { Issue.record("\(error)") }

        var latin1 = Data("name\nok\n".utf8)
        latin1.append(contentsOf: [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, 0x0A]) // "Müller" in Latin-1
        do {
            _ = try CSVReader.parse(latin1)
            Issue.record("accepted Latin-1")
        } catch let error as CSVSyntaxError {
            #expect(error.line == 3)
            #expect(error.message.contains("UTF-8"))
        } catch { Issue.record("\(error)") }
    }

    @Test func writerOutputReadsBackIdentically() throws {
        let rows = [["a", "b,c", "say \"x\""], ["multi\nline", "", "  spaced  "], ["ü", "\r\n", "end"],
                    ["=HYPERLINK(\"http://x\")", "'quoted", "''=twice"], ["-1", "+2.5", "@SUM(A1)"], ["\tx", "\rcmd", "-2+3"]]
        var writer = CSVWriter()
        for row in rows { writer.append(row) }
        #expect(try parse(writer.text).map(\.fields) == rows)
        #expect(writer.text.hasSuffix("\r\n"))
    }

    @Test func tenThousandRowsParseQuickly() throws {
        var text = "asset_tag,serial,notes\n"
        for i in 0..<10_000 { text += "PC-\(i),SN\(i),\"note \(i), with comma\"\n" }
        let started = Date()
        let records = try parse(text)
        #expect(records.count == 10_001)
        #expect(records.last?.fields == ["PC-9999", "SN9999", "note 9999, with comma"])
        #expect(records.last?.line == 10_001)
        #expect(Date().timeIntervalSince(started) < 5, "debug build; the release figure is in docs/BENCHMARKS.md")
    }
}
