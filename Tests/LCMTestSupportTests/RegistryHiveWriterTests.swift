import Foundation
import Guestfs
import LCMTestSupport
import Testing

@Suite struct RegistryHiveWriterSmokeTests {
    @Test func minimalHiveHasTheRegfSignature() {
        let hive = RegistryHive.minimal()
        #expect(Array(hive.prefix(4)) == Array("regf".utf8))
        #expect(hive.count % 4096 == 0)
    }
}

/// The tree writer, checked against hivex on the host (hivexget, hivexml, hivexsh).
@Suite struct RegistryHiveTreeWriterTests {
    /// `minimal` is the tree writer on an empty root (its exact layout is checked in GuestfsTests).
    @Test func anEmptyRootIsTheMinimalHive() {
        let hive = RegistryHive.build(root: RegistryKey("ROOT"))
        #expect(hive == RegistryHive.minimal())
        #expect(hive.count == 8192)
        #expect(Array(hive[4096 + 0x24..<4096 + 0x26]) == Array("nk".utf8), "root node first, right after the hbin header")
    }

    @Test func lhHashIsTheWindowsNameHash() {
        #expect(RegistryHive.lhHash("") == 0)
        #expect(RegistryHive.lhHash("a") == 65)
        #expect(RegistryHive.lhHash("Ab") == 65 &* 37 &+ 66)
        #expect(RegistryHive.lhHash("select") == RegistryHive.lhHash("SELECT"))
    }

    /// Every value type, inline and cell data, big data, UTF-16 names, a key with enough subkeys
    /// to need an index root, unsorted input: hivex must read back exactly what was given.
    @Test func hivexReadsEverythingBack() throws {
        var root = RegistryKey("ROOT")
        let big = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let values: [(String, RegistryValue)] = [
            ("", .string("default value")),
            ("String", .string("Windows 10 Pro")),
            ("Expand", .expandString("%SystemRoot%\\System32")),
            ("Multi", .multiString(["one", "two", "three"])),
            ("Dword", .dword(0xDEAD_BEEF)),
            ("Qword", .qword(133_485_408_000_000_000)),
            ("Tiny", .binary([1, 2, 3])),
            ("Big", .binary(big)),
            ("Ünïcödé", .string("Grüße")),
            ("Пример", .dword(7)),
        ]
        for (name, value) in values { root.set("Software\\Test", name, value) }
        root.withKey("Many") { many in
            for i in (0..<1_200).reversed() { many.subkeys.append(RegistryKey(String(format: "Key%04d", i), values: [.init("N", .dword(UInt32(i)))])) }
        }
        root.set("Software\\Κλειδί", "Value", .string("greek key"))

        let dir = try makeTemporaryDirectory("lcm-hive-tree")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("HIVE").path
        try Data(RegistryHive.build(root: root)).write(to: URL(fileURLWithPath: file))

        #expect(try hivexget(file, "Software\\Test", "String") == "Windows 10 Pro")
        #expect(try hivexget(file, "Software\\Test", "Expand") == "%SystemRoot%\\System32")
        // hivexget prints a REG_DWORD as a signed 32-bit number.
        #expect(try hivexget(file, "Software\\Test", "Dword") == String(Int32(bitPattern: 0xDEAD_BEEF)))
        #expect(try hivexget(file, "Software\\Test", "Qword") == "133485408000000000")
        #expect(try hivexget(file, "Many\\Key1187", "N") == "1187")
        #expect(try hivexget(file, "Software\\Κλειδί", "Value") == "greek key")

        // hivexsh lists subkeys in stored order: sorted, across the index root's lists.
        let listing = try runTool("hivexsh", [file], input: "cd Many\nls\n").stdout.split(separator: "\n").map(String.init)
        #expect(listing == (0..<1_200).map { String(format: "Key%04d", $0) })
        #expect(try rawValue(file, "Software\\Test", "Big") == big)
        #expect(try rawValue(file, "Software\\Test", "Multi") == RegistryValue.multiString(["one", "two", "three"]).data)
        #expect(try rawValue(file, "Software\\Test", "Ünïcödé") == RegistryValue.string("Grüße").data)
        #expect(try rawValue(file, "Software\\Test", "Пример") == RegistryValue.dword(7).data)
        #expect(try rawValue(file, "Software\\Test", "") == RegistryValue.string("default value").data)
        // hivexml walks every cell and fails on anything inconsistent.
        try runTool("hivexml", [file])

        // And hivex can edit it: add into the index root, change a value, commit.
        try runTool("hivexsh", ["-w", file], input: "cd Many\nadd Key0600a\ncd Key0600a\nsetval 1\nN\ndword:42\ncommit\n")
        #expect(try hivexget(file, "Many\\Key0600a", "N") == "42")
        let after = try runTool("hivexsh", [file], input: "cd Many\nls\n").stdout.split(separator: "\n").map(String.init)
        #expect(after.count == 1_201)
        #expect(after[601] == "Key0600a")
    }

    @Test func estimateIsCloseAndAbove() {
        var root = WindowsRegistryContent.software(WindowsDiskSpec())
        RealisticRegistryFiller.fillSoftware(&root, minimumSize: 4 << 20, seed: 1)
        let estimate = RegistryHive.estimatedSize(of: root)
        let actual = RegistryHive.build(root: root).count
        #expect(actual >= 4 << 20)
        #expect(estimate >= actual && Double(estimate) < Double(actual) * 1.1, "estimate \(estimate), actual \(actual)")
    }

    /// The bytes of a value, from `hivexget FILE KEY` (every value in regedit form).
    private func rawValue(_ file: String, _ key: String, _ name: String) throws -> [UInt8] {
        // hivexget writes the default value as "@".
        let prefix = "\"\(name.isEmpty ? "@" : name.replacingOccurrences(of: "\\", with: "\\\\"))\"="
        let listing = try runTool("hivexget", [file, key]).stdout
        guard let line = listing.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) else { return [] }
        let data = line.dropFirst(prefix.count)
        if data.hasPrefix("hex("), let colon = data.firstIndex(of: ":") {
            return data[data.index(after: colon)...].split(separator: ",").compactMap { UInt8($0, radix: 16) }
        }
        if data.hasPrefix("dword:") { return RegistryValue.dword(UInt32(data.dropFirst(6), radix: 16) ?? 0).data }
        if data.hasPrefix("\"") { return RegistryValue.string(String(data.dropFirst().dropLast())).data }
        return []
    }
}

func hivexget(_ file: String, _ key: String, _ value: String) throws -> String {
    try runTool("hivexget", [file, key, value]).stdout.trimmingCharacters(in: .newlines)
}
