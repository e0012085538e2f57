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
    ])
    func malformedFilesAreRefusedWithTheirLine(text: String, line: Int, phrase: String) throws {
        let error = try #require(throws: LCMError.self) { try RegFile(data: Data(text.utf8), name: "bad.reg") }
        #expect(error.code == .dataError)
        #expect(error.message.hasPrefix("bad.reg line \(line): "), "\(error.message)")
        #expect(error.message.contains(phrase), "\(error.message)")
    }
}
