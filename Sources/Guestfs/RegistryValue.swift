/// A Windows registry value type (`REG_*`). Unknown codes are kept as they are.
public struct RegistryValueType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let none = Self(rawValue: 0)
    public static let string = Self(rawValue: 1)
    public static let expandString = Self(rawValue: 2)
    public static let binary = Self(rawValue: 3)
    public static let dword = Self(rawValue: 4)
    public static let dwordBigEndian = Self(rawValue: 5)
    public static let link = Self(rawValue: 6)
    public static let multiString = Self(rawValue: 7)
    public static let resourceList = Self(rawValue: 8)
    public static let fullResourceDescriptor = Self(rawValue: 9)
    public static let resourceRequirementsList = Self(rawValue: 10)
    public static let qword = Self(rawValue: 11)

    public var description: String {
        switch self {
        case .none: "REG_NONE"
        case .string: "REG_SZ"
        case .expandString: "REG_EXPAND_SZ"
        case .binary: "REG_BINARY"
        case .dword: "REG_DWORD"
        case .dwordBigEndian: "REG_DWORD_BIG_ENDIAN"
        case .link: "REG_LINK"
        case .multiString: "REG_MULTI_SZ"
        case .resourceList: "REG_RESOURCE_LIST"
        case .fullResourceDescriptor: "REG_FULL_RESOURCE_DESCRIPTOR"
        case .resourceRequirementsList: "REG_RESOURCE_REQUIREMENTS_LIST"
        case .qword: "REG_QWORD"
        default: "REG_TYPE(\(rawValue))"
        }
    }
}

/// A typed registry value, with the byte encoding Windows uses for each type.
///
/// `RegistryValue(type:data:)` decodes; `data` encodes. Data that does not fit its declared
/// type (a 3-byte REG_DWORD, an odd-length string) decodes to `.other`, so nothing is lost.
public enum RegistryValue: Sendable, Equatable {
    /// REG_SZ: UTF-16LE with a terminating NUL.
    case string(String)
    /// REG_EXPAND_SZ: like REG_SZ, with `%VARIABLE%` references expanded by Windows.
    case expandString(String)
    /// REG_MULTI_SZ: NUL-terminated UTF-16LE strings followed by an empty one.
    case multiString([String])
    /// REG_DWORD: 4 bytes little-endian.
    case dword(UInt32)
    /// REG_QWORD: 8 bytes little-endian.
    case qword(UInt64)
    /// REG_BINARY: raw bytes.
    case binary([UInt8])
    /// Any other type, or data malformed for its type.
    case other(type: RegistryValueType, data: [UInt8])

    public var type: RegistryValueType {
        switch self {
        case .string: .string
        case .expandString: .expandString
        case .multiString: .multiString
        case .dword: .dword
        case .qword: .qword
        case .binary: .binary
        case .other(let type, _): type
        }
    }

    /// The bytes stored in the hive for this value.
    public var data: [UInt8] {
        switch self {
        case .string(let s), .expandString(let s):
            return Self.utf16LE(s) + [0, 0]
        case .multiString(let list):
            return list.flatMap { Self.utf16LE($0) + [0, 0] } + [0, 0]
        case .dword(let v):
            return withUnsafeBytes(of: v.littleEndian) { Array($0) }
        case .qword(let v):
            return withUnsafeBytes(of: v.littleEndian) { Array($0) }
        case .binary(let bytes):
            return bytes
        case .other(_, let bytes):
            return bytes
        }
    }

    /// Decodes `data` as stored for `type`. Strings end at the first NUL (Windows tolerates
    /// missing terminators and trailing garbage, so this does too).
    public init(type: RegistryValueType, data: [UInt8]) {
        switch type {
        case .string, .expandString:
            guard data.count % 2 == 0 else { self = .other(type: type, data: data); return }
            let units = Self.units(data)
            let s = String(decoding: units.prefix { $0 != 0 }, as: UTF16.self)
            self = type == .string ? .string(s) : .expandString(s)
        case .multiString:
            guard data.count % 2 == 0 else { self = .other(type: type, data: data); return }
            var list: [String] = []
            var current: [UInt16] = []
            for unit in Self.units(data) {
                if unit != 0 {
                    current.append(unit)
                } else if current.isEmpty {
                    break
                } else {
                    list.append(String(decoding: current, as: UTF16.self))
                    current = []
                }
            }
            if !current.isEmpty { list.append(String(decoding: current, as: UTF16.self)) }
            self = .multiString(list)
        case .dword where data.count == 4:
            self = .dword(data.reversed().reduce(0) { $0 << 8 | UInt32($1) })
        case .qword where data.count == 8:
            self = .qword(data.reversed().reduce(0) { $0 << 8 | UInt64($1) })
        case .binary:
            self = .binary(data)
        default:
            self = .other(type: type, data: data)
        }
    }

    /// The string of a REG_SZ or REG_EXPAND_SZ value.
    public var stringValue: String? {
        switch self {
        case .string(let s), .expandString(let s): s
        default: nil
        }
    }

    /// The number of a REG_DWORD or REG_QWORD value.
    public var integerValue: UInt64? {
        switch self {
        case .dword(let v): UInt64(v)
        case .qword(let v): v
        default: nil
        }
    }

    private static func utf16LE(_ s: String) -> [UInt8] {
        s.utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
    }

    private static func units(_ data: [UInt8]) -> [UInt16] {
        stride(from: 0, to: data.count - 1, by: 2).map { UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8 }
    }
}
