import Foundation
import LCMTestSupport
import Testing

/// completions/ and man/lcm.1 are generated from the command tree and committed; these tests fail
/// when a command changes without `scripts/generate-docs` being run.
@Suite struct GeneratedDocsTests {
    static var repository: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionsMatchTheCommandTree(shell: String) throws {
        let generated = try ProgramRun.run(BuiltProducts.executable("lcm"), ["--generate-completion-script", shell])
        #expect(generated.status == 0)
        let committed = try String(contentsOf: Self.repository.appendingPathComponent("completions/lcm.\(shell)"), encoding: .utf8)
        #expect(generated.stdout == committed, "completions/lcm.\(shell) is stale: run scripts/generate-docs")
    }

    @Test func manPageMatchesTheCommandTree() throws {
        let dump = try ProgramRun.run(BuiltProducts.executable("lcm"), ["--experimental-dump-help"])
        #expect(dump.status == 0)
        let sha = try ProgramRun.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), ["-"], input: Data(dump.stdout.utf8))
        let fingerprint = String(sha.stdout.prefix(64))
        let manual = try String(contentsOf: Self.repository.appendingPathComponent("man/lcm.1"), encoding: .utf8)
        #expect(manual.hasPrefix(".\\\" lcm command tree sha256: \(fingerprint)\n"), "man/lcm.1 is stale: run scripts/generate-docs")
        // The exit-code table reaches the man page.
        #expect(manual.contains("busy: another lcm run holds the lock"))
    }
}
