import Foundation
import LCMKit
import LCMTestSupport
import Testing

/// The command layer as users meet it: exit codes, messages, formats.
@Suite struct CommandLineTests {
    @Test func helpListsTheExitCodeTable() throws {
        let scratch = ScratchDirectory()
        let run = try LCMRunner(home: scratch.path).run(["--help"])
        #expect(run.status == 0)
        // Help wraps long lines: compare with whitespace collapsed.
        let help = run.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for code in LCMExitCode.allCases {
            #expect(help.contains("\(code.rawValue) \(code.meaning)"), "help misses exit code \(code.rawValue)")
        }
    }

    @Test func unknownFormatIsAUsageErrorAndCreatesNothing() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let run = try LCMRunner(home: home).run(["inventory", "list", "--format", "yaml"])
        #expect(run.status == LCMExitCode.usage.rawValue)
        #expect(run.stderr.contains("yaml"))
        #expect(!FileManager.default.fileExists(atPath: home))
    }

    @Test func csvIsRefusedWhereThereIsNoTable() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let lcm = LCMRunner(home: home)
        for command in [["doctor", "--quick"], ["manage", "status"], ["image", "show", "win11"], ["retire", "export-key"]] {
            let run = try lcm.run(command + ["--format", "csv"])
            #expect(run.status == LCMExitCode.usage.rawValue, "\(command): \(run.stdout)")
            #expect(run.stdout.isEmpty)
            #expect(run.stderr.contains("--format csv is for listings"))
            #expect(run.stderr.contains("--format json"))
        }
        // Refused before anything is made: not even the home.
        #expect(!FileManager.default.fileExists(atPath: home))
        let listing = try lcm.run(["inventory", "list", "devices", "--format", "csv"])
        #expect(listing.status == 0, "\(listing.stderr)")
    }

    @Test func emptyInventoryListsNothing() throws {
        let scratch = ScratchDirectory()
        let lcm = LCMRunner(home: scratch.file("home").path)
        let json = try lcm.run(["inventory", "list", "devices", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [Any]
        #expect(parsed?.isEmpty == true)
        let text = try lcm.run(["inventory", "list", "desktops"])
        #expect(text.stdout == "(none)\n")
        let csv = try lcm.run(["inventory", "list", "events", "--format", "csv"])
        #expect(csv.stdout.hasPrefix("id,time,user,object_kind,object,action,outcome,details,command\r\n"))
    }

    @Test func listingsReportRecordsInEveryFormat() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let inventory = try Inventory.open(home: LCMHome(url: URL(fileURLWithPath: home)))
        try inventory.write { db in
            var user = User(username: "alice", fullName: "Alice, \"A\" Smith")
            try user.insert(db)
            var device = Device(assetTag: "PC-001", serial: "SN1", status: .inStock, vendor: "Lenovo", model: "T14")
            device.userID = user.id
            try device.insert(db)
            var other = Device(assetTag: "PC-002", serial: "SN2", status: .ordered)
            try other.insert(db)
            var desktop = Desktop(name: "alice-corp", deviceID: device.id, userID: user.id, status: .deployed)
            try desktop.insert(db)
        }
        let lcm = LCMRunner(home: home)
        let filtered = try lcm.run(["inventory", "list", "devices", "--status", "in stock", "--format", "json"])
        let rows = try JSONSerialization.jsonObject(with: Data(filtered.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.count == 1)
        #expect(rows?.first?["asset_tag"] as? String == "PC-001")
        #expect(rows?.first?["user"] as? String == "alice")
        #expect(rows?.first?["desktops"] as? Int == 1)

        let users = try lcm.run(["inventory", "list", "users", "--format", "csv"])
        #expect(users.stdout.contains("alice,\"Alice, \"\"A\"\" Smith\""))

        let show = try lcm.run(["inventory", "show", "desktops", "alice-corp"])
        #expect(show.status == 0)
        #expect(show.stdout.contains("PC-001"))

        let missing = try lcm.run(["inventory", "show", "devices", "PC-999"])
        #expect(missing.status == LCMExitCode.notFound.rawValue)
        #expect(missing.stderr.contains("PC-999"))
    }

    @Test func corruptDatabaseIsRefusedAndLeftAlone() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x5A, count: 4096)
        try garbage.write(to: home.appendingPathComponent("lcm.db"))
        let run = try LCMRunner(home: home.path).run(["inventory", "list"])
        #expect(run.status == LCMExitCode.databaseError.rawValue)
        #expect(run.stderr.split(separator: "\n").first?.hasPrefix("lcm: error:") == true)
        #expect(try Data(contentsOf: home.appendingPathComponent("lcm.db")) == garbage)
    }

    @Test func unwritableHomeIsReported() throws {
        let scratch = ScratchDirectory()
        try Data().write(to: scratch.file("file"))
        let run = try LCMRunner(home: scratch.file("file").appendingPathComponent("home").path).run(["inventory", "list"])
        #expect(run.status == LCMExitCode.cannotWrite.rawValue)
        #expect(run.stderr.contains("--home"))
    }

    @Test func unreachableLibvirtIsUnavailable() throws {
        let scratch = ScratchDirectory()
        let lcm = LCMRunner(home: scratch.file("home").path)
        // Nothing listens on port 1; and a socket path where no libvirtd runs.
        for uri in ["qemu+tcp://127.0.0.1:1/system", "qemu:///system?socket=/nonexistent/libvirt-sock"] {
            let run = try lcm.run(["doctor", "--quick", "--connect", uri, "--format", "json"])
            #expect(run.status == LCMExitCode.checkFailed.rawValue, "\(uri): \(run.stderr)")
            let report = try JSONDecoder().decode(DoctorReport.self, from: Data(run.stdout.utf8))
            let libvirt = report.checks.first { $0.name == "libvirt" }
            #expect(libvirt?.status == .fail)
            #expect(libvirt?.fix?.contains("libvirtd") == true)
            #expect(run.stderr.isEmpty, "libvirt printed behind our back: \(run.stderr)")
        }
    }

    @Test func recoverWithNothingToDo() throws {
        let scratch = ScratchDirectory()
        let run = try LCMRunner(home: scratch.file("home").path).run(["recover", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]" || run.stdout.contains("[]"))
    }
}
