import Foundation
import Guestfs
@testable import LCMKit
import Testing

/// .reg files as regedit writes them: every data form, both encodings, continuation lines, and
/// malformed files refused with the line that is wrong.
struct RegFileTests {
    /// UTF-16LE with a byte-order mark and CRLF, as `regedit /e` writes version 5 files.
    static func utf16(_ text: String) -> Data {
        Data([0xFF, 0xFE] + text.replacingOccurrences(of: "\n", with: "\r\n").utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
    }

    @Test func parsesEveryDataFormOfAVersion5Export() throws {
        let text = """
        Windows Registry Editor Version 5.00

        ; a comment
        [HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Agent]
        @="default text"
        "Path"="C:\\\\Program Files\\\\Contoso \\"quoted\\""
        "Level"=dword:0000002a
        "Blob"=hex:00,01,fe,\\
          ff
        "Expand"=hex(2):25,00,41,00,25,00,00,00
        "Multi"=hex(7):61,00,00,00,62,00,00,00,00,00
        "Big"=hex(b):01,00,00,00,00,00,00,00
        "Empty"=hex:
        "Name with = sign"="x"

        [-HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\OldAgent]
        [HKEY_CLASSES_ROOT\\.lcm]
        @="lcmfile"
        """
        let file = try RegFile(data: Self.utf16(text), name: "agent.reg")
        let agent = RegFile.Key(hive: .software, path: ["Contoso", "Agent"])
        let classes = RegFile.Key(hive: .software, path: ["Classes", ".lcm"])
        let expected: [RegFile.Entry] = [
            .init(line: 4, change: .createKey(agent)),
            .init(line: 5, change: .setValue(agent, name: "", .string("default text"))),
            .init(line: 6, change: .setValue(agent, name: "Path", .string("C:\\Program Files\\Contoso \"quoted\""))),
            .init(line: 7, change: .setValue(agent, name: "Level", .dword(42))),
            .init(line: 8, change: .setValue(agent, name: "Blob", .binary([0, 1, 0xFE, 0xFF]))),
            .init(line: 10, change: .setValue(agent, name: "Expand", .expandString("%A%"))),
            .init(line: 11, change: .setValue(agent, name: "Multi", .multiString(["a", "b"]))),
            .init(line: 12, change: .setValue(agent, name: "Big", .qword(1))),
            .init(line: 13, change: .setValue(agent, name: "Empty", .binary([]))),
            .init(line: 14, change: .setValue(agent, name: "Name with = sign", .string("x"))),
            .init(line: 16, change: .deleteKey(RegFile.Key(hive: .system, path: ["CurrentControlSet", "Services", "OldAgent"]))),
            .init(line: 17, change: .createKey(classes)),
            .init(line: 18, change: .setValue(classes, name: "", .string("lcmfile"))),
        ]
        #expect(file.changes == expected)
        #expect(file.hives == [.software, .system])
    }

    @Test func readsRegedit4InUTF8AndWindows1252() throws {
        let utf8 = try RegFile(data: Data("REGEDIT4\n[HKLM\\SYSTEM\\Setup]\n\"Owner\"=\"Zoë\"\n".utf8), name: "a.reg")
        #expect(utf8.changes.last?.change == .setValue(RegFile.Key(hive: .system, path: ["Setup"]), name: "Owner", .string("Zoë")))
        var ansi = Data("REGEDIT4\r\n[HKLM\\SYSTEM\\Setup]\r\n\"Owner\"=\"Zo".utf8)
        ansi.append(contentsOf: [0xEB, 0x22, 0x0D, 0x0A])   // ë in Windows-1252, closing quote
        let decoded = try RegFile(data: ansi, name: "b.reg")
        #expect(decoded.changes.last?.change == .setValue(RegFile.Key(hive: .system, path: ["Setup"]), name: "Owner", .string("Zoë")))
    }

    /// Each malformed file is refused as bad data, naming the file and the line at fault.
    @Test(arguments: [
        ("[HKLM\\SOFTWARE\\A]\n", 1, "first line"),
        ("Windows Registry Editor Version 5.00\n\"Orphan\"=\"x\"\n", 2, "outside a key"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A\n", 2, "must end with"),
        ("REGEDIT4\n[HKEY_CURRENT_USER\\Software\\A]\n", 2, "no offline hive"),
        ("REGEDIT4\n[HKLM\\SAM\\A]\n", 2, "cannot be changed offline"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\\\A]\n", 2, "empty key name"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"V\"=dword:123456789\n", 3, "1 to 8 hex digits"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"V\"=hex:01,zz\n", 3, "comma-separated bytes"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\n\"V\"=hex:01,\\\n  02,\\\n  0g\n", 4, "comma-separated bytes"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"V\"=-\n", 3, "deleting a single value"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"V\"=\"a\\nb\"\n", 3, "unknown escape"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"V\"=\"open\n", 3, "quoted string"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\n\"V\"=word:1\n", 3, "unknown data"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\A]\nV=\"x\"\n", 3, "expected \"name\"=data"),
        ("REGEDIT4\n[HKLM\\SOFTWARE" + String(repeating: "\\K", count: 1000) + "]\n", 2, "1002 levels deep; Windows allows 512"),
        ("REGEDIT4\n[HKLM\\SOFTWARE\\" + String(repeating: "k", count: 256) + "]\n", 2, "256 characters long; Windows allows 255"),
    ])
    func malformedFilesAreRefusedWithTheirLine(text: String, line: Int, phrase: String) throws {
        let error = try #require(throws: LCMError.self) { try RegFile(data: Data(text.utf8), name: "bad.reg") }
        #expect(error.code == .dataError)
        #expect(error.message.hasPrefix("bad.reg line \(line): "), "\(error.message)")
        #expect(error.message.contains(phrase), "\(error.message)")
    }

    @Test func theDeepestAndLongestKeysWindowsAllowsStillParse() throws {
        let deepest = "REGEDIT4\n[HKLM\\SOFTWARE" + String(repeating: "\\K", count: 510) + "]\n"
        #expect(try RegFile(data: Data(deepest.utf8), name: "deep.reg").changes.count == 1)
        let longest = "REGEDIT4\n[HKLM\\SOFTWARE\\" + String(repeating: "k", count: 255) + "]\n"
        #expect(try RegFile(data: Data(longest.utf8), name: "long.reg").changes.count == 1)
    }

    /// The shape regedit writes for a large REG_BINARY: the first line up to column 80, then
    /// lines of two blanks and 25 bytes, each continued with a backslash.
    static func regeditExport(binary bytes: [UInt8], name: String = "Blob") -> String {
        let items = bytes.map { String(format: "%02x", $0) }
        let first = "\"\(name)\"=hex:"
        let take = (78 - first.count) / 3
        var lines = [first + items.prefix(take).joined(separator: ",")]
        for start in stride(from: take, to: items.count, by: 25) {
            lines.append("  " + items[start..<min(start + 25, items.count)].joined(separator: ","))
        }
        return lines.dropLast().map { $0 + ",\\" }.joined(separator: "\n") + "\n" + lines.last!
    }

    /// Issue 27 item 8: joining continuation lines re-read and copied the whole value at every
    /// line (a 320 KB file took 34 s). A 2 MB export of one REG_BINARY, in the UTF-16LE regedit
    /// writes, must parse in a few seconds even in a debug build, with every byte in place.
    @Test func aLargeContinuedBinaryValueParsesInLinearTime() throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<680_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = "Windows Registry Editor Version 5.00\n\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso]\n"
            + Self.regeditExport(binary: bytes) + "\n\"After\"=dword:00000001\n"
        let data = Self.utf16(text)
        #expect(data.count > 4_000_000)
        let result = InputCost.finished(within: .seconds(60), "2 MB REG_BINARY export (\(data.count) bytes UTF-16)") {
            try RegFile(data: data, name: "big.reg")
        }
        let file = try #require(try result?.get())
        let key = RegFile.Key(hive: .software, path: ["Contoso"])
        let lastLine = 4 + (bytes.count - (78 - 11) / 3 + 24) / 25 + 1
        #expect(file.changes == [
            .init(line: 3, change: .createKey(key)),
            .init(line: 4, change: .setValue(key, name: "Blob", .binary(bytes))),
            .init(line: lastLine, change: .setValue(key, name: "After", .dword(1))),
        ])
    }

    /// The fast way through hex data takes only regedit's own form; every other form a hand-written
    /// file may use still parses as before (upper case, blanks, a sign), and continuation lines that
    /// end in blanks or an empty line keep their meaning.
    @Test func hexDataInEveryFormStillParses() throws {
        let text = """
        REGEDIT4
        [HKLM\\SOFTWARE\\A]
        "Upper"=HEX:0A,FF,\\
          \t1 , 2\t,\\   \t
          +f
        "Spaced"=hex: 0a , b \\

        "Next"=hex(2):41,00,00,00
        "Empty"=hex:   \t
        """
        let file = try RegFile(data: Data(text.utf8), name: "forms.reg")
        let key = RegFile.Key(hive: .software, path: ["A"])
        #expect(file.changes == [
            .init(line: 2, change: .createKey(key)),
            .init(line: 3, change: .setValue(key, name: "Upper", .binary([0x0A, 0xFF, 0x01, 0x02, 0x0F]))),
            .init(line: 6, change: .setValue(key, name: "Spaced", .binary([0x0A, 0x0B]))),
            .init(line: 8, change: .setValue(key, name: "Next", .expandString("A"))),
            .init(line: 9, change: .setValue(key, name: "Empty", .binary([]))),
        ])
    }
}
