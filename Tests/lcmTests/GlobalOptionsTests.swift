import Foundation
import LCMKit
import LCMTestSupport
import Testing

/// Global options where admins put them: before the subcommand as well as after it.
@Suite struct GlobalOptionsTests {
    @Test func globalOptionsGoBeforeTheSubcommand() throws {
        let scratch = ScratchDirectory()
        let environmentHome = scratch.file("env-home").path
        let home = scratch.file("home").path
        let lcm = LCMRunner(home: environmentHome)
        let run = try lcm.run(["--home", home, "--format", "json", "inventory", "list", "devices"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect((try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [Any])?.isEmpty == true)
        // --home before the subcommand is the home used, not LCM_HOME.
        #expect(FileManager.default.fileExists(atPath: home + "/lcm.db"))
        #expect(!FileManager.default.fileExists(atPath: environmentHome))

        // The `--option=value` form and the short flags too.
        let csv = try lcm.run(["--home=\(home)", "-q", "--format=csv", "inventory", "list", "events"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout.hasPrefix("id,time,user,object_kind,object,action,outcome,details,command\r\n"))
    }

    @Test func givenInBothPlacesTheOneAfterTheSubcommandWins() throws {
        let scratch = ScratchDirectory()
        let lcm = LCMRunner(home: scratch.file("home").path)
        let csv = try lcm.run(["--format", "json", "inventory", "list", "devices", "--format", "csv"])
        #expect(csv.status == 0, "\(csv.stderr)")
        #expect(csv.stdout.hasPrefix("asset_tag,"))
        let json = try lcm.run(["--format", "csv", "inventory", "list", "devices", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        #expect(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) is [Any])
    }

    @Test func csvIsRefusedBeforeTheSubcommandToo() throws {
        let scratch = ScratchDirectory()
        let home = scratch.file("home").path
        let run = try LCMRunner(home: home).run(["--format", "csv", "doctor", "--quick"])
        #expect(run.status == LCMExitCode.usage.rawValue)
        #expect(run.stdout.isEmpty)
        #expect(run.stderr.contains("--format csv is for listings"))
        #expect(!FileManager.default.fileExists(atPath: home))
    }

    @Test func aDefaultSubcommandTakesThem() throws {
        let scratch = ScratchDirectory()
        let lcm = LCMRunner(home: scratch.file("home").path)
        // `lcm retire D` is `lcm retire run D`.
        let run = try lcm.run(["--format", "json", "retire", "no-such-desktop", "--dry-run"])
        #expect(run.status == LCMExitCode.notFound.rawValue, "\(run.stderr)")
        #expect(run.stderr.contains("lcm: error: no-such-desktop"))
        #expect(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) is [Any])
    }

    @Test func withoutASubcommandTheyAreABadCommandLine() throws {
        let scratch = ScratchDirectory()
        let run = try LCMRunner(home: scratch.file("home").path).run(["--format", "json"])
        #expect(run.status == LCMExitCode.usage.rawValue)
    }
}
