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
        try global.run(csv: true) { context in
            let journal = OperationJournal(inventory: try context.inventory(), registry: .standard)
            let results = try journal.recoverAll()
            if context.settings.format == .json {
                Terminal.output(try Terminal.json(results))
                return
            }
            var table = ReportTable(columns: ["operation", "kind", "object", "action", "cleaned"])
            table.rows = results.map {
                [.text($0.operationID), .text($0.kind), .text("\($0.objectKind) \($0.objectID)"), .text($0.action),
                 .integer(Int64($0.resourcesCleaned))]
            }
            Terminal.output(results.isEmpty ? "nothing to recover\n" : table.render(context.settings.format))
        }
    }
}
