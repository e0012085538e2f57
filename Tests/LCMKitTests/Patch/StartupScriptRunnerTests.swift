import Foundation
import Guestfs
@testable import LCMKit
import LCMTestSupport
import Testing

/// The Group Policy files lcm edits to register its boot-time runner: the admin's own startup
/// scripts and other extensions are kept; the version moves so Windows rereads the policy.
struct StartupScriptIniTests {
    @Test func scriptsIniKeepsTheImagesOwnScriptsAndSections() {
        var ini = ScriptsIni(text: "[Shutdown]\r\n0CmdLine=bye.cmd\r\n0Parameters=\r\n[Startup]\r\n0CmdLine=mine.cmd\r\n0Parameters=/q\r\n")
        #expect(ini.startup.map { $0.command } == ["mine.cmd"])
        ini.startup.append((StartupScriptRunner.commandFile, ""))
        #expect(ini.text == "[Startup]\r\n0CmdLine=mine.cmd\r\n0Parameters=/q\r\n1CmdLine=lcm-runner.cmd\r\n1Parameters=\r\n"
                + "[Shutdown]\r\n0CmdLine=bye.cmd\r\n0Parameters=\r\n")
        #expect(IniText.decode(IniText.encodeUTF16(ini.text)) == ini.text)
    }

    @Test func gptIniGetsTheScriptsExtensionInOrderAndANewMachineVersion() {
        let registry = "[{35378EAC-683F-11D2-A89A-00C04FBBCFA2}{D02B1F72-3407-48AE-BA88-E8213C6761F1}]"
        var gpt = GptIni(text: "[General]\r\ngPCMachineExtensionNames=\(registry)\r\nVersion=131075\r\n")
        #expect(!gpt.listsScriptsExtension)
        gpt.addScriptsExtension()
        gpt.bumpMachineVersion()
        #expect(gpt.listsScriptsExtension)
        #expect(gpt.version == 131_076, "user version 2 kept, machine 3 -> 4")
        #expect(gpt.text.contains("gPCMachineExtensionNames=\(registry)\(StartupScriptRunner.scriptsExtension)\r\n"), "\(gpt.text)")
        var empty = GptIni(text: "")
        empty.addScriptsExtension()
        empty.bumpMachineVersion()
        #expect(empty.text == "[General]\r\ngPCMachineExtensionNames=\(StartupScriptRunner.scriptsExtension)\r\nVersion=1\r\n")
    }
}

extension DiskIntegrationTests {
    /// Installed twice into a Windows-shaped disk: files, scripts.ini, gpt.ini and the registry
    /// state read back outside lcm (guestfish download, hivexregedit); the second install adds nothing.
    @Test func startupRunnerIsRegisteredOfflineOnce() throws {
        let base = try DiskFixtures.shared.image(DiskFixtures.baseSpec).url.path
        let scratch = ScratchDirectory(prefix: "lcm-runner")
        let inventory = try DiskTestTools.inventory(scratch)
        let overlay = scratch.file("desktop.qcow2").path
        try DiskTestTools.plainOverlay(at: overlay, base: base)
        let out = scratch.file("out").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        let report = try DiskBatch.run(inventory: inventory, objectID: "runner", volumes: [.file(overlay, name: "desktop")],
                                       options: DiskTestEnvironment.options) { disk -> [StartupScriptRunner.Registration] in
            let g = disk.session
            try DiskTestTools.mountWindows(disk)
            let root = try g.caseSensitivePath("/Windows")
            let software = try g.caseSensitivePath(root + "/System32/config/SOFTWARE")
            let first = try StartupScriptRunner.install(g, systemRoot: root, softwareHive: software)
            let second = try StartupScriptRunner.install(g, systemRoot: root, softwareHive: software)
            let policy = try g.caseSensitivePath(root + "/System32/GroupPolicy")
            try g.download(policy + "/gpt.ini", to: out + "/gpt.ini")
            try g.download(policy + "/Machine/Scripts/scripts.ini", to: out + "/scripts.ini")
            try g.download(policy + "/Machine/Scripts/Startup/lcm-runner.cmd", to: out + "/lcm-runner.cmd")
            try g.download(policy + "/Machine/Scripts/Startup/lcm-runner.ps1", to: out + "/lcm-runner.ps1")
            try g.download(software, to: out + "/SOFTWARE")
            return [first, second]
        }
        let registrations = try #require(report.results.first?.value, "\(String(describing: report.results.first?.failure))")
        #expect(registrations.map(\.wasRegistered) == [false, true])
        #expect(registrations.map(\.gptVersion) == [1, 1], "the second install must not bump the version again")

        let scripts = try #require(FileManager.default.contents(atPath: out + "/scripts.ini"))
        #expect(Array(scripts.prefix(2)) == [0xFF, 0xFE], "scripts.ini must be UTF-16LE with a byte-order mark")
        #expect(IniText.decode(Array(scripts)) == "[Startup]\r\n0CmdLine=lcm-runner.cmd\r\n0Parameters=\r\n")
        let gpt = try String(contentsOfFile: out + "/gpt.ini", encoding: .utf8)
        #expect(gpt.contains("gPCMachineExtensionNames=[{42B5FAAE-6536-11D2-AE5A-0000F87571E3}{40B6664F-4972-11D1-A7CA-0000F87571E3}]"))
        #expect(gpt.contains("Version=1\r\n"))
        #expect(try String(contentsOfFile: out + "/lcm-runner.cmd", encoding: .utf8) == StartupScriptRunner.commandScript)
        #expect(try String(contentsOfFile: out + "/lcm-runner.ps1", encoding: .utf8) == StartupScriptRunner.powershellScript)

        for tree in [StartupScriptRunner.groupPolicyScripts, StartupScriptRunner.groupPolicyState] {
            let run = try ProgramRun.run("/usr/bin/hivexregedit", ["--export", out + "/SOFTWARE", tree])
            try #require(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.components(separatedBy: "\\0\\0]").count == 2, "one script entry: \(run.stdout)")
            #expect(!run.stdout.contains("\\0\\1]"), "registered twice: \(run.stdout)")
            #expect(run.stdout.contains("\"IsPowershell\"=dword:00000000"), "\(run.stdout)")
        }
        let wait = try ProgramRun.run("/usr/bin/hivexget", [out + "/SOFTWARE", "Policies\\Microsoft\\Windows\\System", "MaxGPOScriptWait"])
        #expect(wait.stdout.trimmingCharacters(in: .newlines) == "0", "\(wait.stdout) \(wait.stderr)")
    }
}
