import Foundation
import LCMKit
import LCMTestSupport
import Testing

@Suite struct BootRunnerContractTests {
    let items = [
        StagedItem(order: 2, name: "agent-setup", kind: .cmd, payload: "@echo off\r\n"),
        StagedItem(order: 1, name: "KB5040442", kind: .msu, simulatedExitCode: 3010),
        StagedItem(order: 10, name: "broken_1.2", kind: .msi, simulatedExitCode: -2_147_024_891),
    ]

    @Test func itemFileNames() {
        #expect(items.map(\.fileName) == ["002-agent-setup.cmd", "001-KB5040442.msu", "010-broken_1.2.msi"])
    }

    @Test func manifestListsItemsInOrderAndParsesBack() throws {
        let text = BootRunnerContract.manifest(items)
        #expect(text.hasPrefix("#"))
        let entries = try BootRunnerContract.parseManifest(text)
        #expect(entries.map(\.order) == [1, 2, 10])
        #expect(entries.map(\.item) == ["001-KB5040442.msu", "002-agent-setup.cmd", "010-broken_1.2.msi"])
        #expect(entries.map(\.kind) == [.msu, .cmd, .msi])
        #expect(entries[0].options == ["standin-exit": "3010"])
        #expect(entries[1].options.isEmpty)
        #expect(entries[2].options["standin-exit"] == "-2147024891")
        // CRLF, comments and blank lines are accepted.
        let windows = text.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n# trailing comment\r\n"
        #expect(try BootRunnerContract.parseManifest(windows) == entries)
        #expect(throws: BootRunnerContractError.self) { try BootRunnerContract.parseManifest("1\tx.msu\n") }
        #expect(throws: BootRunnerContractError.self) { try BootRunnerContract.parseManifest("1\tx.exe\texe\n") }
    }

    @Test func logLinesRoundTrip() throws {
        let start = Date(timeIntervalSince1970: 1_735_689_600)
        let result = RunnerResult(item: "001-KB5040442.msu", started: start, ended: start.addingTimeInterval(95),
                                  exitCode: 3010, rebootNeeded: true)
        #expect(result.line == "001-KB5040442.msu\t2025-01-01T00:00:00Z\t2025-01-01T00:01:35Z\t3010\tyes")
        #expect(RunnerResult(line: result.line) == result)
        let log = result.line + "\r\n" + "002-a.cmd\t2025-01-01T00:01:35Z\t2025-01-01T00:01:36Z\t-1\tno\r\n"
        let parsed = try BootRunnerContract.parseLog(log)
        #expect(parsed.count == 2)
        #expect(parsed[1].exitCode == -1)
        #expect(parsed[1].rebootNeeded == false)
        for bad in ["x\t2025-01-01T00:00:00Z\t2025-01-01T00:00:00Z\t0", "x\tyesterday\t2025-01-01T00:00:00Z\t0\tno",
                    "x\t2025-01-01T00:00:00Z\t2025-01-01T00:00:00Z\t0\tmaybe", "\t2025-01-01T00:00:00Z\t2025-01-01T00:00:00Z\t0\tno"] {
            #expect(RunnerResult(line: bad) == nil, "\(bad)")
        }
    }

    @Test func bootMarkerRoundTrip() throws {
        let record = BootRecord(computerName: "LCM-DESKTOP", time: Date(timeIntervalSince1970: 1_735_689_600))
        #expect(record.line == "booted computer-name=LCM-DESKTOP time=2025-01-01T00:00:00Z")
        let records = try BootRunnerContract.parseMarker(record.line + "\r\n" + "booted computer-name= time=2025-01-01T00:00:05Z\r\n")
        #expect(records.first == record)
        #expect(records.last?.computerName == "")
        #expect(throws: BootRunnerContractError.self) { try BootRunnerContract.parseMarker("hello\n") }
    }

    @Test func rebootCodesAreWindowsSuccessWithRestart() {
        #expect(BootRunnerContract.rebootExitCodes == [3010, 1641])
    }

    @Test func specValidationRejectsBadItems() {
        var spec = WindowsDiskSpec()
        spec.queue = [StagedItem(order: 1, name: "has space", kind: .cmd)]
        #expect(throws: WindowsDiskError.self) { try spec.validate() }
        spec.queue = [StagedItem(order: 1000, name: "x", kind: .cmd)]
        #expect(throws: WindowsDiskError.self) { try spec.validate() }
        spec.queue = [StagedItem(order: 1, name: "x", kind: .cmd), StagedItem(order: 1, name: "x", kind: .cmd)]
        #expect(throws: WindowsDiskError.self) { try spec.validate() }
        spec.queue = items
        #expect(throws: Never.self) { try spec.validate() }
    }
}
