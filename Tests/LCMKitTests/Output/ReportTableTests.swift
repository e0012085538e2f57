import Foundation
import LCMKit
import Testing

@Suite struct ReportTableTests {
    let table = ReportTable(columns: ["tag", "note", "cost"], rows: [
        [.text("PC-1"), .text("has, comma and \"quotes\"\nand a newline"), .integer(1200)],
        [.text("PC-2"), .null, .number(9.5)],
    ])

    @Test func csvQuotesPerRFC4180() {
        let csv = table.render(.csv)
        #expect(csv == "tag,note,cost\r\nPC-1,\"has, comma and \"\"quotes\"\"\nand a newline\",1200\r\nPC-2,,9.5\r\n")
    }

    @Test func jsonKeepsTypesAndParses() throws {
        let parsed = try JSONSerialization.jsonObject(with: Data(table.render(.json).utf8)) as? [[String: Any]]
        #expect(parsed?.count == 2)
        #expect(parsed?[0]["cost"] as? Int == 1200)
        #expect(parsed?[0]["note"] as? String == "has, comma and \"quotes\"\nand a newline")
        #expect(parsed?[1]["note"] is NSNull)
        #expect(parsed?[1]["cost"] as? Double == 9.5)
    }

    @Test func textAlignsColumns() {
        let lines = table.render(.text).split(separator: "\n")
        #expect(lines.first?.hasPrefix("TAG   NOTE") == true)
        #expect(ReportTable(columns: ["a"]).render(.text) == "(none)\n")
    }

    @Test func csvQuotesCRLF() {
        #expect(CSVText.field("a\r\nb") == "\"a\r\nb\"")
        #expect(CSVText.field("plain") == "plain")
    }

    @Test func csvMakesFormulasInert() {
        for formula in ["=1+1", "+A1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"] {
            #expect(CSVText.neutralized(formula) == "'" + formula)
            #expect(CSVText.restored(CSVText.neutralized(formula)) == formula)
        }
        // Numbers stay numbers; an apostrophe already there is kept through a round trip.
        #expect(CSVText.neutralized("-12") == "-12")
        #expect(CSVText.neutralized("+3.5") == "+3.5")
        #expect(CSVText.neutralized("'x") == "''x")
        #expect(CSVText.restored("''x") == "'x")
        #expect(CSVText.restored("'x") == "'x")
        var formulas = ReportTable(columns: ["note"])
        formulas.rows = [[.text("=HYPERLINK(\"http://evil\",\"x\")")]]
        #expect(formulas.render(.csv) == "note\r\n\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\"\r\n")
    }

    @Test func jsonEscapesControlCharacters() {
        #expect(JSONText.string("a\u{1}b\t") == "\"a\\u0001b\\t\"")
    }
}
