import ArgumentParser
import LCMKit

struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Finish or undo operations that a killed lcm run left unfinished.",
        discussion: """
            Each multi-step operation is journaled. This finds operations whose run died, cleans up the \
            helper processes, sockets and temporary files they left, and completes or undoes them. \
            Operations still held by a live run are skipped. The next lcm run on an object does the same \
            for that object by itself.
            """)

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.report(csv: true) { context in
            let journal = try context.journal()
            return RecoveryResult(results: try journal.recoverAll())
        }
    }
}

/// What `lcm recover` did: JSON is the list as it is; text and CSV a table ("nothing to recover" in text).
struct RecoveryResult: CommandResult {
    var results: [OperationJournal.Recovered]

    var table: ReportTable {
        ReportTable(columns: ["operation", "kind", "object", "action", "cleaned"], rows: results.map {
            [.text($0.operationID), .text($0.kind), .text("\($0.objectKind) \($0.objectID)"), .text($0.action),
             .integer(Int64($0.resourcesCleaned))]
        })
    }

    func text(quiet: Bool) -> String { results.isEmpty ? "nothing to recover\n" : table.text(quiet: quiet) }
    func json() throws -> String { try JSONOutput.encode(results) }
    func csv() -> String? { results.isEmpty ? "nothing to recover\n" : table.csv() }
}
