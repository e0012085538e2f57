import Guestfs
import Testing

/// Byte encodings of registry values (no appliance).
@Suite struct RegistryValueTests {
    @Test func stringIsUTF16LEWithTerminator() {
        let v = RegistryValue.string("Aé€")
        #expect(v.type == .string)
        #expect(v.data == [0x41, 0x00, 0xE9, 0x00, 0xAC, 0x20, 0x00, 0x00])
        #expect(RegistryValue(type: .string, data: v.data) == v)
    }

    @Test func expandStringKeepsItsType() {
        let v = RegistryValue.expandString("%SystemRoot%\\System32")
        #expect(v.type == .expandString)
        #expect(v.type.rawValue == 2)
        #expect(RegistryValue(type: .expandString, data: v.data) == v)
    }

    @Test func stringDecodingStopsAtNulAndToleratesMissingTerminator() {
        #expect(RegistryValue(type: .string, data: [0x61, 0, 0, 0, 0x62, 0]) == .string("a"))
        #expect(RegistryValue(type: .string, data: [0x61, 0]) == .string("a"))
        #expect(RegistryValue(type: .string, data: []) == .string(""))
        #expect(RegistryValue(type: .string, data: [0x61]) == .other(type: .string, data: [0x61]))
    }

    @Test func multiStringHasDoubleTerminator() {
        let v = RegistryValue.multiString(["a", "bc"])
        #expect(v.data == [0x61, 0, 0, 0, 0x62, 0, 0x63, 0, 0, 0, 0, 0])
        #expect(RegistryValue(type: .multiString, data: v.data) == v)
        #expect(RegistryValue.multiString([]).data == [0, 0])
        #expect(RegistryValue(type: .multiString, data: [0, 0]) == .multiString([]))
        #expect(RegistryValue(type: .multiString, data: []) == .multiString([]))
    }

    @Test func dwordAndQwordAreLittleEndian() {
        #expect(RegistryValue.dword(0x0102_0304).data == [4, 3, 2, 1])
        #expect(RegistryValue(type: .dword, data: [4, 3, 2, 1]) == .dword(0x0102_0304))
        #expect(RegistryValue.qword(0x0102_0304_0506_0708).data == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(RegistryValue(type: .qword, data: [8, 7, 6, 5, 4, 3, 2, 1]) == .qword(0x0102_0304_0506_0708))
        #expect(RegistryValue.dword(10).integerValue == 10)
        #expect(RegistryValueType.qword.rawValue == 11)
    }

    @Test func malformedNumbersAndUnknownTypesAreKeptRaw() {
        #expect(RegistryValue(type: .dword, data: [1, 2, 3]) == .other(type: .dword, data: [1, 2, 3]))
        let link = RegistryValue(type: .link, data: [9, 9])
        #expect(link == .other(type: .link, data: [9, 9]))
        #expect(link.type == .link && link.data == [9, 9])
        #expect(RegistryValueType(rawValue: 99).description == "REG_TYPE(99)")
    }

    @Test func binaryIsVerbatim() {
        let v = RegistryValue.binary([0, 255, 7])
        #expect(v.type == .binary)
        #expect(v.data == [0, 255, 7])
        #expect(RegistryValue(type: .binary, data: [0, 255, 7]) == v)
    }
}
