import Foundation
import LCMKit
import LCMTestSupport
import Testing

/// Progress on a terminal's stderr, and nowhere else (Sources/lcm/ProgressLine.swift).
@Suite struct ProgressLineTests {
    /// Runs lcm with stdout and stderr on a pseudo-terminal (`script`); what the terminal showed.
    func onTerminal(_ arguments: [String], home: String) throws -> ProgramRun {
        let command = ([try BuiltProducts.executable("lcm").path] + arguments)
            .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        return try ProgramRun.run(URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"], environment: ["LCM_HOME": home])
    }

    let doctor = ["doctor", "--quick", "--connect", "test:///default"]

    @Test func aTerminalSeesProgressThenTheResult() throws {
        let scratch = ScratchDirectory()
        let run = try onTerminal(doctor, home: scratch.file("home").path)
        #expect(run.stdout.contains("\rlcm: checks: 10/10\u{1B}[K"), "\(run.stdout)")
        // The line is taken away before the result is printed.
        let cleared = try #require(run.stdout.range(of: "\r\u{1B}[K"))
        #expect(run.stdout[cleared.upperBound...].contains("lcm is"))
    }

    @Test func noProgressWithoutATerminalWithQuietOrInJSON() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let piped = try LCMRunner(home: home).run(doctor)
        #expect(!piped.stderr.contains("lcm: checks"))
        #expect(!piped.stdout.contains("lcm: checks"))
        #expect(piped.stdout.contains("lcm is"))

        let quiet = try onTerminal(doctor + ["--quiet"], home: home)
        #expect(!quiet.stdout.contains("lcm: checks"), "\(quiet.stdout)")

        let json = try onTerminal(doctor + ["--format", "json"], home: home)
        #expect(!json.stdout.contains("lcm: checks"), "\(json.stdout)")
        let start = try #require(json.stdout.firstIndex(of: "{")), end = try #require(json.stdout.lastIndex(of: "}"))
        let text = json.stdout[start...end].replacingOccurrences(of: "\r\n", with: "\n")
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(text.utf8))
        #expect(report.checks.count == 10)
    }
}
