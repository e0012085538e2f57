import Foundation
import Guestfs
import Hivex

/// The two ways lcm reads an offline hive: the appliance's hivex on an open `GuestfsSession`, and
/// libhivex on lcm's machine (`HostRegistry`). Lookups that both need are written once over this.
protocol RegistryReader {
    associatedtype Node
    func node(atPath path: String, create: Bool) throws -> Node?
    func value(_ node: Node, _ key: String) throws -> RegistryValue?
}

extension GuestfsSession: RegistryReader {}
extension HostRegistry: RegistryReader {}

enum ControlSets {
    /// `ControlSet00N`, as `Select\Current` in the SYSTEM hive names it (CurrentControlSet exists
    /// only in a running Windows). `volume` names the disk in errors.
    static func current(_ system: some RegistryReader, volume: String? = nil) throws -> String {
        let of = volume.map { " of \($0)" } ?? ""
        guard let select = try system.node(atPath: "Select", create: false),
              let current = try system.value(select, "Current")?.integerValue else {
            throw LCMError(.dataError, "the SYSTEM hive\(of) has no Select\\Current value, so CurrentControlSet cannot be resolved")
        }
        let name = String(format: "ControlSet%03d", current)
        guard try system.node(atPath: name, create: false) != nil else {
            throw LCMError(.dataError, "Select\\Current names \(name), which the SYSTEM hive\(of) does not have")
        }
        return name
    }
}

/// A registry hive on lcm's machine, opened with libhivex, with the calls the patch code edits
/// and checks keys through. Paths are backslash-separated below the hive's root; names match
/// case-insensitively, as in Windows.
final class HostRegistry {
    typealias Node = Hive.Node
    let hive: Hive

    init(path: String, write: Bool) throws {
        do { hive = try Hive(path: path, write: write) } catch { throw LCMError(.dataError, "cannot open the registry hive: \(error)") }
    }

    /// The key at `path` ("" is the root); with `create`, missing keys on the way are added.
    func node(atPath path: String, create: Bool = false) throws -> Node? {
        var node = try hive.root
        for name in path.split(separator: "\\").map(String.init) where !name.isEmpty {
            if let child = try hive.child(node, name) {
                node = child
            } else if create {
                node = try hive.addChild(node, name)
            } else {
                return nil
            }
        }
        return node
    }

    func children(_ node: Node) throws -> [Node] { try hive.children(node) }
    func addChild(_ parent: Node, _ name: String) throws -> Node { try hive.addChild(parent, name) }
    func deleteKey(_ node: Node) throws { try hive.deleteChild(node) }

    /// The value's type and bytes as stored, or nil.
    func raw(_ node: Node, _ key: String) throws -> (type: RegistryValueType, bytes: [UInt8])? {
        guard let handle = try hive.value(node, key) else { return nil }
        let (type, bytes) = try hive.data(handle)
        return (RegistryValueType(rawValue: type), bytes)
    }

    func value(_ node: Node, _ key: String) throws -> RegistryValue? {
        try raw(node, key).map { RegistryValue(type: $0.type, data: $0.bytes) }
    }

    func setValue(_ node: Node, key: String, _ value: RegistryValue) throws {
        try hive.setValue(node, key: key, type: value.type.rawValue, bytes: value.data)
    }

    func commit() throws { try hive.commit() }
}

/// SYSTEM and SOFTWARE of a mounted Windows volume, copied out into memory files on lcm's
/// machine, edited there with libhivex, and only the changed blocks written back: one download
/// per hive and a few small writes, instead of opening and committing a 60 MiB SOFTWARE inside
/// the appliance (its CPU is emulated under TCG) once per change set. The copies live in memfds,
/// never on a disk.
enum OfflineHives {
    /// The hives' paths on the mounted volume.

    /// The opened copies handed to `edit`.
    struct Editors {
        var system: HostRegistry?
        var software: HostRegistry?
    }

    /// Hive files as one image holds them, kept for other copies of that image (the OS layers of
    /// one golden version in a deploy batch): a copy whose hive still has the same size and header
    /// block is not downloaded again. Every write hivex commits changes the header block (its
    /// sequence numbers and timestamp), and `writeBack` writes it first.
    final class KnownHives: @unchecked Sendable {
        var bytes: [RegFile.Hive: [UInt8]] = [:]
        init() {}
    }

    /// Bytes compared to tell an unchanged copy of a known hive: its base block.
    static let headerBytes = 4096

    /// Copies out the hives in `hives`, lets `edit` change them, commits, reopens each copy
    /// and lets `check` read it back (the file as it will be in the image), then uploads the
    /// copies `edit` reported as changed. Nothing reaches the image unless `check` passes.
    /// `hives` maps each hive to open to its path in the mounted volume; a hive in `known` that
    /// the image holds unchanged is taken from there instead of downloaded, and one downloaded
    /// is added to it.
    static func edit<T>(_ g: GuestfsSession, hives: [RegFile.Hive: String], known: KnownHives? = nil,
                        edit: (Editors) throws -> (result: T, changed: Set<RegFile.Hive>),
                        check: (Editors) throws -> Void) throws -> T {
        var files: [RegFile.Hive: (descriptor: Int32, path: String)] = [:]
        defer { for file in files.values { close(file.descriptor) } }
        var originals: [RegFile.Hive: [UInt8]] = [:]
        for (hive, path) in hives {
            let file = try Hive.memoryFile(name: "lcm-\(hive.rawValue)")
            files[hive] = file
            if let bytes = known?.bytes[hive], try isUnchangedCopy(g, path, of: bytes) {
                try writeAll(bytes, to: file.descriptor)
                originals[hive] = bytes
                continue
            }
            try g.download(path, to: file.path)
            originals[hive] = FileManager.default.contents(atPath: file.path).map(Array.init) ?? []
            known?.bytes[hive] = originals[hive]
        }
        func open(write: Bool) throws -> Editors {
            Editors(system: try files[.system].map { try HostRegistry(path: $0.path, write: write) },
                    software: try files[.software].map { try HostRegistry(path: $0.path, write: write) })
        }
        let (result, changed) = try {
            let editors = try open(write: true)
            let outcome = try edit(editors)
            for hive in outcome.changed { try (hive == .system ? editors.system : editors.software)?.commit() }
            return outcome
        }()
        try check(try open(write: false))
        for hive in changed {
            guard let file = files[hive], let before = originals[hive], let path = hives[hive] else { continue }
            try writeBack(g, from: file.path, original: before, to: path)
        }
        return result
    }

    /// Whether the hive at `path` in the image has the size and the header block of `bytes`.
    static func isUnchangedCopy(_ g: GuestfsSession, _ path: String, of bytes: [UInt8]) throws -> Bool {
        guard try g.filesize(path) == Int64(bytes.count) else { return false }
        let count = min(headerBytes, bytes.count)
        return try g.pread(path, count: count, offset: 0) == Array(bytes[0..<count])
    }

    static func writeAll(_ bytes: [UInt8], to descriptor: Int32) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            guard written > 0 else { throw LCMError(.cannotWrite, "cannot fill a hive copy: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Granularity of the write-back: a hive edit touches a few cells, the header and maybe a
    /// new bin at the end; the rest of the file (60 MiB for SOFTWARE) is the same bytes.
    static let blockSize = 64 << 10

    /// memcmp of one block (a 60 MiB hive compared element by element costs seconds).
    static func sameBytes(_ a: [UInt8], _ b: [UInt8], _ start: Int, _ end: Int) -> Bool {
        a.withUnsafeBufferPointer { left in
            b.withUnsafeBufferPointer { right in
                memcmp(left.baseAddress! + start, right.baseAddress! + start, end - start) == 0
            }
        }
    }

    /// Writes into the image only the blocks of `path` that differ from `original` (what the
    /// image holds), instead of sending the whole hive back through the appliance's NTFS driver.
    static func writeBack(_ g: GuestfsSession, from path: String, original: [UInt8], to imagePath: String) throws {
        guard let edited = FileManager.default.contents(atPath: path).map(Array.init) else {
            throw LCMError(.cannotWrite, "cannot read the edited copy of \(imagePath)")
        }
        var offset = 0
        while offset < edited.count {
            let end = min(offset + blockSize, edited.count)
            if end > original.count || !sameBytes(edited, original, offset, end) {
                try g.pwrite(imagePath, Array(edited[offset..<end]), offset: Int64(offset))
            }
            offset = end
        }
        if edited.count < original.count { try g.truncate(imagePath, size: Int64(edited.count)) }
        guard try g.filesize(imagePath) == Int64(edited.count) else {
            throw LCMError(.failure, "\(imagePath) has another size in the image than the edited copy after the write-back")
        }
    }
}
