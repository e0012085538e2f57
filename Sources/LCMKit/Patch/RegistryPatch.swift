import Foundation
import Guestfs

/// Applies .reg files to the offline hives of a Windows volume, then reopens each hive and
/// checks that it holds what the files say: every value with its type and bytes, every created
/// key present, every deleted key gone.
///
/// `CurrentControlSet` (which exists only in a running Windows) is written to the control set
/// that SYSTEM's `Select\Current` names.
public struct RegistryPatch: Sendable {
    public let files: [RegFile]

    /// What one application changed.
    public struct Outcome: Sendable, Equatable, Codable {
        public var keysCreated = 0
        public var keysDeleted = 0
        public var valuesSet = 0
        /// Values and keys read back after the commit and found as expected.
        public var checked = 0
    }

    public init(files: [RegFile]) { self.files = files }

    /// Applies to the Windows volume mounted writable at `/`, whose hives are `systemHive` and
    /// `softwareHive`: the hives are copied out, edited and checked on lcm's machine
    /// (`OfflineHives`), and sent back only when every change reads back as the files say.
    /// Throws when a check fails. (Patching runs the same edit and check as one operation of
    /// the disk's registry pass: `PatchSetOperation`.)
    public func apply(_ g: GuestfsSession, systemHive: String, softwareHive: String) throws -> Outcome {
        var outcome = Outcome()
        guard !hives.isEmpty else { return outcome }
        var expected: [RegFile.Hive: ExpectedState] = [:]
        let paths: [RegFile.Hive: String] = [.system: systemHive, .software: softwareHive]
        try OfflineHives.edit(g, hives: paths.filter { hives.contains($0.key) }, edit: { editors in
            expected = try edit(editors, outcome: &outcome)
            return ((), Set(expected.keys))
        }, check: { editors in
            outcome.checked += try Self.check(expected, editors)
        })
        return outcome
    }

    /// The hives the files change.
    var hives: Set<RegFile.Hive> { Set(files.flatMap(\.changes).map { Self.key(of: $0.change).hive }) }

    /// Writes every change into the opened copies (`CurrentControlSet` resolved through SYSTEM)
    /// and returns, per hive changed, the end state `check` reads back.
    func edit(_ editors: OfflineHives.Editors, outcome: inout Outcome) throws -> [RegFile.Hive: ExpectedState] {
        let entries = files.flatMap(\.changes).map(\.change)
        var controlSet: String?
        if hives.contains(.system), let system = editors.system { controlSet = try ControlSets.current(system) }
        var expected: [RegFile.Hive: ExpectedState] = [:]
        for hive in RegFile.Hive.allCases {
            let changes = entries.filter { Self.key(of: $0).hive == hive }.map { Self.resolved($0, controlSet: controlSet) }
            guard !changes.isEmpty, let editor = hive == .system ? editors.system : editors.software else { continue }
            for change in changes { try Self.write(change, editor, &outcome) }
            expected[hive] = ExpectedState(changes)
        }
        return expected
    }

    /// Reads `expected` back from the reopened copies; returns how many items it checked.
    static func check(_ expected: [RegFile.Hive: ExpectedState], _ editors: OfflineHives.Editors) throws -> Int {
        var checked = 0
        for (hive, state) in expected {
            guard let editor = hive == .system ? editors.system : editors.software else { continue }
            checked += try check(state, editor, hive: hive)
        }
        return checked
    }

    // MARK: - Writing

    static func key(of change: RegFile.Change) -> RegFile.Key {
        switch change {
        case .createKey(let key), .deleteKey(let key), .setValue(let key, _, _): key
        }
    }

    /// `CurrentControlSet\...` in SYSTEM becomes `ControlSet00N\...`.
    static func resolved(_ change: RegFile.Change, controlSet: String?) -> RegFile.Change {
        func fix(_ key: RegFile.Key) -> RegFile.Key {
            guard key.hive == .system, let controlSet, key.path.first?.caseInsensitiveCompare("CurrentControlSet") == .orderedSame else {
                return key
            }
            return RegFile.Key(hive: .system, path: [controlSet] + key.path.dropFirst())
        }
        switch change {
        case .createKey(let key): return .createKey(fix(key))
        case .deleteKey(let key): return .deleteKey(fix(key))
        case .setValue(let key, let name, let value): return .setValue(fix(key), name: name, value)
        }
    }

    private static func write(_ change: RegFile.Change, _ hive: HostRegistry, _ outcome: inout Outcome) throws {
        switch change {
        case .createKey(let key):
            if try hive.node(atPath: joined(key)) == nil { outcome.keysCreated += 1 }
            _ = try hive.node(atPath: joined(key), create: true)
        case .deleteKey(let key):
            guard !key.path.isEmpty else { throw LCMError(.dataError, "refusing to delete the root of \(key.hive.rawValue)") }
            if let node = try hive.node(atPath: joined(key)) {
                try hive.deleteKey(node)
                outcome.keysDeleted += 1
            }
        case .setValue(let key, let name, let value):
            guard let node = try hive.node(atPath: joined(key), create: true) else { return }
            try hive.setValue(node, key: name, value)
            outcome.valuesSet += 1
        }
    }

    static func joined(_ key: RegFile.Key) -> String { key.path.joined(separator: "\\") }

    // MARK: - Checking

    /// The end state the changes describe, in order: a later `[-KEY]` removes earlier values
    /// under it, a later value or `[KEY]` brings the key back.
    struct ExpectedState {
        var values: [String: (key: RegFile.Key, name: String, value: RegistryValue)] = [:]
        var present: [String: RegFile.Key] = [:]
        var absent: [String: RegFile.Key] = [:]

        init(_ changes: [RegFile.Change]) {
            for change in changes {
                switch change {
                case .createKey(let key):
                    exists(key)
                case .deleteKey(let key):
                    let id = Self.id(key)
                    values = values.filter { !Self.isSelfOrBelow(Self.id($0.value.key), id) }
                    present = present.filter { !Self.isSelfOrBelow($0.key, id) }
                    absent = absent.filter { !Self.isSelfOrBelow($0.key, id) }
                    absent[id] = key
                case .setValue(let key, let name, let value):
                    exists(key)
                    values[Self.id(key) + "\u{0}" + name.lowercased()] = (key, name, value)
                }
            }
        }

        /// The key and its parents exist.
        private mutating func exists(_ key: RegFile.Key) {
            let id = Self.id(key)
            absent = absent.filter { !Self.isSelfOrBelow(id, $0.key) }
            present[id] = key
        }

        static func id(_ key: RegFile.Key) -> String { (key.hive.rawValue + "\\" + joined(key)).lowercased() }

        static func isSelfOrBelow(_ id: String, _ ancestor: String) -> Bool {
            id == ancestor || id.hasPrefix(ancestor + "\\")
        }
    }

    /// Reads the end state back from the open hive; returns how many items it checked.
    private static func check(_ expected: ExpectedState, _ hive: HostRegistry, hive kind: RegFile.Hive) throws -> Int {
        var checked = 0
        for key in expected.present.values {
            guard try hive.node(atPath: joined(key)) != nil else { throw mismatch("key \(key) is missing") }
            checked += 1
        }
        for key in expected.absent.values {
            guard try hive.node(atPath: joined(key)) == nil else { throw mismatch("key \(key) is still there") }
            checked += 1
        }
        for (key, name, value) in expected.values.values {
            let shown = name.isEmpty ? "(default)" : name
            guard let node = try hive.node(atPath: joined(key)), let stored = try hive.raw(node, name) else {
                throw mismatch("value \(shown) of \(key) is missing")
            }
            guard stored.type == value.type, stored.bytes == value.data else {
                throw mismatch("value \(shown) of \(key) reads back different from the .reg file")
            }
            checked += 1
        }
        return checked
    }

    private static func mismatch(_ what: String) -> LCMError {
        LCMError(.checkFailed, "after the commit, \(what)", hint: "the previous OS layer or image version is still in place; nothing was switched")
    }
}
