import Guestfs

/// A registry key to be written into a hive: its name, its values (in the order given) and its
/// subkeys. `RegistryHive.build(root:)` turns a tree of these into a regf file.
///
/// Names are matched case-insensitively, as Windows does; lookups by path create missing keys.
public struct RegistryKey: Sendable, Equatable {
    /// One named value of a key (`""` is the key's default value).
    public struct Value: Sendable, Equatable {
        public var name: String
        public var value: RegistryValue

        public init(_ name: String, _ value: RegistryValue) {
            self.name = name
            self.value = value
        }
    }

    public var name: String
    public var values: [Value]
    public var subkeys: [RegistryKey]

    public init(_ name: String, values: [Value] = [], subkeys: [RegistryKey] = []) {
        self.name = name
        self.values = values
        self.subkeys = subkeys
    }

    /// Sets (adds or replaces) a value of this key.
    public mutating func set(_ name: String, _ value: RegistryValue) {
        if let i = values.firstIndex(where: { $0.name.caseInsensitiveEquals(name) }) {
            values[i].value = value
        } else {
            values.append(Value(name, value))
        }
    }

    /// Sets a value of the key at a backslash-separated `path` below this one, creating keys.
    public mutating func set(_ path: String, _ name: String, _ value: RegistryValue) {
        withKey(path) { $0.set(name, value) }
    }

    /// Runs `body` on the key at `path` below this one (`""` is this key), creating missing keys.
    public mutating func withKey<T>(_ path: String, _ body: (inout RegistryKey) throws -> T) rethrows -> T {
        let components = path.split(separator: "\\", omittingEmptySubsequences: true).map(String.init)
        return try withKey(components[...], body)
    }

    private mutating func withKey<T>(_ path: ArraySlice<String>, _ body: (inout RegistryKey) throws -> T) rethrows -> T {
        guard let first = path.first else { return try body(&self) }
        let index: Int
        if let i = subkeys.firstIndex(where: { $0.name.caseInsensitiveEquals(first) }) {
            index = i
        } else {
            subkeys.append(RegistryKey(first))
            index = subkeys.count - 1
        }
        return try subkeys[index].withKey(path.dropFirst(), body)
    }

    /// Adds `key` below the key at `path` (created if missing). The caller keeps names unique.
    public mutating func add(_ key: RegistryKey, under path: String) {
        withKey(path) { $0.subkeys.append(key) }
    }

    /// The key at `path` below this one, or nil.
    public func key(atPath path: String) -> RegistryKey? {
        var key = self
        for name in path.split(separator: "\\", omittingEmptySubsequences: true) {
            guard let next = key.subkeys.first(where: { $0.name.caseInsensitiveEquals(String(name)) }) else { return nil }
            key = next
        }
        return key
    }

    /// The value `name` of the key at `path`, or nil.
    public func value(atPath path: String, _ name: String) -> RegistryValue? {
        key(atPath: path)?.values.first(where: { $0.name.caseInsensitiveEquals(name) })?.value
    }

    /// Number of keys in this tree, this one included.
    public var keyCount: Int { 1 + subkeys.reduce(0) { $0 + $1.keyCount } }

    /// Number of values in this tree.
    public var valueCount: Int { values.count + subkeys.reduce(0) { $0 + $1.valueCount } }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        self.count == other.count && self.uppercased() == other.uppercased()
    }
}
