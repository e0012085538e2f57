import Foundation
import LCMKit
import LCMTestSupport
import Testing

@Suite struct InventoryCommandTests {
    @Test func eventsInTextSummarizeTheirDetails() throws {
        let scratch = ScratchDirectory()
        let lcm = LCMRunner(home: scratch.file("home").path)
        #expect(try lcm.run(["procure", "add", "--asset-tag", "PC-1", "--serial", "SN-1"]).status == 0)
        #expect(try lcm.run(["procure", "move", "PC-1", "in repair", "--note", "fan"]).status == 0)
        let text = try lcm.run(["inventory", "list", "events", "--object", "PC-1"])
        #expect(text.status == 0, "\(text.stderr)")
        let moved = text.stdout.split(separator: "\n").first { $0.contains(" status ") }
        #expect(moved?.contains("from: in stock, note: fan, to: in repair") == true, "\(text.stdout)")
        #expect(!text.stdout.contains("{\""))
        // The full object stays in JSON.
        let json = try lcm.run(["inventory", "list", "events", "--object", "PC-1", "--format", "json"])
        let rows = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]]
        let details = rows?.first { $0["action"] as? String == "status" }?["details"] as? String
        #expect(details == "{\"from\":\"in stock\",\"note\":\"fan\",\"to\":\"in repair\"}")
    }
}
