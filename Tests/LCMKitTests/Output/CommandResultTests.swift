import Foundation
import LCMKit
import Testing

/// The one output path's values: each result's renderings, the batch exit rule, event summaries.
@Suite struct CommandResultTests {
    struct Sample: Codable, Equatable { var name: String; var count: Int }

    @Test func renderedKeepsTheValueForJSONAndTheTextForPeople() throws {
        let result = Rendered(Sample(name: "a/b", count: 2), notes: ["note: x"]) { value, quiet in
            quiet ? "\(value.count)\n" : "\(value.name) has \(value.count)\n"
        }
        #expect(result.text(quiet: false) == "a/b has 2\n")
        #expect(result.text(quiet: true) == "2\n")
        // Sorted keys, slashes unescaped, pretty: the same encoder for every command.
        #expect(try result.json() == "{\n  \"count\" : 2,\n  \"name\" : \"a/b\"\n}\n")
        #expect(result.csv() == nil)
        #expect(result.notes == ["note: x"])
        #expect(result.exitCode == 0)
    }

    @Test func aTableIsItsOwnResultInEveryFormat() throws {
        let table = ReportTable(columns: ["tag", "cost"], rows: [[.text("PC-1"), .integer(3)]])
        #expect(table.text(quiet: false) == table.render(.text))
        #expect(try table.json() == table.render(.json))
        #expect(table.csv() == table.render(.csv))
        let rendered = Rendered(Sample(name: "x", count: 1), table: table) { _ in "" }
        #expect(rendered.csv() == table.render(.csv))
    }

    @Test func recordsReadOneFieldPerLine() {
        let table = ReportTable(columns: ["asset_tag", "status"], rows: [[.text("PC-1"), .text("in stock")], [.text("PC-2"), .null]])
        #expect(RecordView(table, separated: false).text(quiet: false)
                == "asset_tag        PC-1\nstatus           in stock\nasset_tag        PC-2\nstatus           \n")
        #expect(RecordView(table, separated: true).text(quiet: false).components(separatedBy: "\n\n").count == 3)
        var fields = FieldList(width: 6, indent: "  ")
        fields.add("os", "Windows")
        #expect(fields.text == "  os     Windows\n")
    }

    @Test func batchExitRule() {
        let failed = BatchFailure(item: "d1", message: "no device", hint: "add it", exitCode: LCMExitCode.notFound.rawValue)
        #expect(BatchResult(total: 3, failures: []).exitCode == 0)
        // One item: its own code, so a script sees why.
        #expect(BatchResult(total: 1, failures: [failed]).exitCode == LCMExitCode.notFound.rawValue)
        // One item without a code of its own, or several items: partial failure.
        #expect(BatchResult(total: 1, failures: [BatchFailure(item: "d1", message: nil, exitCode: nil)]).exitCode == 2)
        #expect(BatchResult(total: 2, failures: [failed]).exitCode == 2)
        let problem = BatchResult(total: 2, failures: [failed]).problems[0]
        #expect(problem.message == "d1: no device")
        #expect(problem.hint == "add it")
        #expect(problem.code == .notFound)
        #expect(BatchFailure(item: "d2", message: nil, exitCode: nil).problem.message == "d2: failed")
    }

    @Test func deployReportsFollowTheBatchRule() throws {
        let json = """
            {"outcomes": [{"desktop": "a", "state": "deployed", "running": true, "notes": []},
                          {"desktop": "b", "state": "failed", "error": "boom", "exitCode": 69, "running": false, "notes": []}],
             "launches": 1, "seconds": 1, "phases": {"prepare": 0, "goldenUpload": 0, "personalize": 0, "define": 0}}
            """
        var report = try JSONDecoder().decode(DeployReport.self, from: Data(json.utf8))
        #expect(report.exitCode == LCMExitCode.partialFailure.rawValue)
        #expect(report.problems.map(\.message) == ["b: boom"])
        report.outcomes.removeFirst()
        #expect(report.exitCode == 69)
    }

    @Test func eventDetailsReadAsOneLine() {
        #expect(JSONSummary.line("{\"to\":\"in stock\",\"from\":\"ordered\"}") == "from: ordered, to: in stock")
        #expect(JSONSummary.line("{\"items\":[\"a\",\"b\"],\"n\":{\"k\":\"v\"}}") == "items: a b, n: (k: v)")
        #expect(JSONSummary.line("not json") == "not json")
        var table = ReportTable(columns: ["action", "details"], rows: [[.text("moved"), .text("{\"from\":\"a\",\"to\":\"b\"}")]])
        table.summarizedInText = ["details"]
        #expect(table.render(.text).contains("from: a, to: b"))
        // JSON and CSV keep the object as stored.
        #expect(table.render(.csv).contains("\"{\"\"from\"\":\"\"a\"\",\"\"to\"\":\"\"b\"\"}\""))
        #expect(table.render(.json).contains("\"{\\\"from\\\":\\\"a\\\",\\\"to\\\":\\\"b\\\"}\""))
    }

    @Test func progressCarriesWhatARendererNeeds() {
        let progress = ProgressUpdate("upload win11", done: 5, of: 10, unit: .bytes)
        #expect(progress.total == 10 && progress.unit == .bytes)
        #expect(ProgressUpdate("appliance launch").total == nil)
    }
}
