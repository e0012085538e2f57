import Foundation
import Guestfs
import Hivex

/// What changed between two images: files on the Windows volume, registry values, installed
/// applications and the inspected facts. Both disks are read in one appliance launch; the hives
/// are copied out and compared on this host with libhivex, where a key costs microseconds
/// instead of an appliance round trip.
public struct ImageDiffReport: Codable, Sendable {
    public var from: String
    public var to: String
    /// Inspected facts that differ (version, UBR, generalization, drivers, ...).
    public var facts: [FactChange] = []
    public var applications: [ApplicationChange] = []
    public var files: [FileChange] = []
    public var registry: [RegistryChange] = []
    /// Hives compared value by value (the others were byte-identical or absent on both sides).
    public var hivesCompared: [String] = []
    public var launches: Int = 0

    public var isEmpty: Bool { facts.isEmpty && applications.isEmpty && files.isEmpty && registry.isEmpty }
}

public enum ChangeKind: String, Codable, Sendable { case added, removed, modified }

public struct FactChange: Codable, Sendable, Equatable {
    public var field: String
    public var old: String?
    public var new: String?
}

public struct ApplicationChange: Codable, Sendable, Equatable {
    public var name: String
    public var change: ChangeKind
    public var oldVersion: String?
    public var newVersion: String?
}

public struct FileChange: Codable, Sendable, Equatable {
    /// Path on the Windows volume, e.g. "/Windows/System32/drivers/viostor.sys".
    public var path: String
    public var change: ChangeKind
    public var oldSize: Int64?
    public var newSize: Int64?
}

public struct RegistryChange: Codable, Sendable, Equatable {
    /// "SOFTWARE", "SYSTEM", "DEFAULT".
    public var hive: String
    /// Key path below the hive root, backslash-separated.
    public var key: String
    /// The value name ("" is the key's default value); nil when the whole key was added or removed.
    public var value: String?
    public var change: ChangeKind
    public var old: String?
    public var new: String?
}

public enum ImageDiff {
    /// Machine hives worth comparing. SAM and SECURITY are left in the image: they hold password
    /// hashes and LSA secrets, which have no business in a temporary file or a report.
    static let hives = ["SOFTWARE", "SYSTEM", "DEFAULT"]

    /// One side of a diff, read from the disk in the appliance.
    struct Side: Sendable {
        var inspection: WindowsInspection
        var files: [String: FileStatus]
        /// Hive name → path of its copy on this host.
        var hiveCopies: [String: String]
    }

    /// Compares `from` and `to` (catalog versions or files). `scratch` receives the hive copies
    /// (a private directory, removed before returning).
    public static func run(from: InspectTarget, to: InspectTarget, context: LCMContext) throws -> ImageDiffReport {
        let inventory = try context.inventory()
        // One file against itself: nothing can differ, and the engine opens a file only once.
        if URL(fileURLWithPath: from.path).standardizedFileURL.resolvingSymlinksInPath()
            == URL(fileURLWithPath: to.path).standardizedFileURL.resolvingSymlinksInPath() {
            return ImageDiffReport(from: from.label, to: to.label)
        }
        var options = context.engine
        options.readOnly = true
        let scratch = try privateScratchDirectory(inventory.home)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let volumes = [DiskVolume.file(from.path, name: from.catalogReference ?? from.label),
                       DiskVolume.file(to.path, name: to.catalogReference ?? to.label)]
        let report = try DiskBatch.run(inventory: inventory, objectID: "diff-\(UUID().uuidString.lowercased().prefix(8))",
                                       volumes: volumes, options: options) { access in
            try read(access, into: scratch.appendingPathComponent("\(access.index)"))
        }
        var sides: [Side] = []
        for (target, result) in zip([from, to], report.results) {
            switch result.outcome {
            case .success(let side): sides.append(side)
            case .failure(let failure):
                throw LCMError(.dataError, "cannot read \(target.label): \(failure.description)",
                               hint: "`lcm image inspect \(target.label)` shows what lcm finds on it")
            }
        }
        var diff = try compare(sides[0], sides[1], from: from.label, to: to.label)
        diff.launches = report.launches
        return diff
    }

    static func privateScratchDirectory(_ home: LCMHome) throws -> URL {
        let store = ImageStore(home: home)
        let directory = store.root.appendingPathComponent(".diff-\(UUID().uuidString.lowercased())")
        try store.makePrivate(directory)
        return directory
    }

    /// Inspects the disk, lists every file of its Windows volume with size and mtime, and copies
    /// its machine hives to `directory`.
    static func read(_ access: DiskAccess, into directory: URL) throws -> Side {
        let inspection = try WindowsInspector.inspect(access)
        guard inspection.isWindows, let partition = inspection.windowsPartition, let root = inspection.systemRoot else {
            throw LCMError(.dataError, "no Windows installation found", hint: "diff compares two Windows images")
        }
        let g = access.session
        try g.mountReadOnly(partition)
        defer { try? g.umountAll() }
        // lstatnslist takes plain names of one directory: one call per directory, not per file.
        var byDirectory: [String: [String]] = [:]
        for path in try g.find("/") {
            let slash = path.lastIndex(of: "/")
            let directory = slash.map { "/" + path[..<$0] } ?? "/"
            let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
            byDirectory[directory, default: []].append(name)
        }
        var files: [String: FileStatus] = [:]
        for (directory, names) in byDirectory {
            let prefix = directory == "/" ? "/" : directory + "/"
            for (name, status) in zip(names, try g.lstatList(directory, names)) { files[prefix + name] = status }
        }

        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        var copies: [String: String] = [:]
        let config = try g.caseSensitivePath(root + "/System32/config")
        for hive in hives {
            guard let path = try? g.caseSensitivePath(config + "/" + hive), (try? g.isFile(path)) == true else { continue }
            let copy = directory.appendingPathComponent(hive).path
            try g.download(path, to: copy)
            copies[hive] = copy
        }
        return Side(inspection: inspection, files: files, hiveCopies: copies)
    }

    static func compare(_ a: Side, _ b: Side, from: String, to: String) throws -> ImageDiffReport {
        var report = ImageDiffReport(from: from, to: to)
        report.facts = facts(a.inspection, b.inspection)
        report.applications = applications(a.inspection.applications, b.inspection.applications)
        report.files = files(a.files, b.files)
        for hive in hives {
            switch (a.hiveCopies[hive], b.hiveCopies[hive]) {
            case (nil, nil): continue
            case (_?, nil): report.registry.append(RegistryChange(hive: hive, key: "", value: nil, change: .removed))
            case (nil, _?): report.registry.append(RegistryChange(hive: hive, key: "", value: nil, change: .added))
            case (let old?, let new?):
                if try FileDigest.sha256(path: old) == FileDigest.sha256(path: new) { continue }
                report.hivesCompared.append(hive)
                report.registry += try HiveComparison.compare(hive: hive, old: Hive(path: old), new: Hive(path: new))
            }
        }
        return report
    }

    static func facts(_ a: WindowsInspection, _ b: WindowsInspection) -> [FactChange] {
        let fields: [(String, (WindowsInspection) -> String?)] = [
            ("os", { $0.osName }), ("product", { $0.productName }), ("edition", { $0.editionID }),
            ("version", { $0.version }), ("display version", { $0.displayVersion }),
            ("architecture", { $0.architecture }), ("hostname", { $0.hostname }),
            ("computer name", { $0.computerName }), ("image state", { $0.generalization.imageState }),
            ("virtio storage drivers", { $0.virtio.storageDrivers.joined(separator: ",") }),
            ("virtio network drivers", { $0.virtio.networkDrivers.joined(separator: ",") }),
            ("installed updates", { $0.servicing.installedUpdates.joined(separator: ",") }),
            ("pending packages", { $0.servicing.pendingPackages.joined(separator: ",") }),
            ("fast startup", { $0.hibernation.fastStartupEnabled ? "on" : "off" }),
            ("hibernated", { $0.hibernation.hibernated ? "yes" : "no" }),
            ("lcm queue items", { String($0.lcmQueue.pendingItems) }),
        ]
        return fields.compactMap { field, read in
            let old = read(a), new = read(b)
            return old == new ? nil : FactChange(field: field, old: old, new: new)
        }
    }

    static func applications(_ a: [InstalledApplication], _ b: [InstalledApplication]) -> [ApplicationChange] {
        func index(_ apps: [InstalledApplication]) -> [String: InstalledApplication] {
            Dictionary(apps.map { ((($0.is32BitOn64 ? "32:" : "") + $0.key).lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
        }
        let old = index(a), new = index(b)
        var changes: [ApplicationChange] = []
        for key in Set(old.keys).union(new.keys).sorted() {
            let before = old[key], after = new[key]
            let name = after?.displayName ?? before?.displayName ?? after?.key ?? before?.key ?? key
            switch (before, after) {
            case (nil, let after?): changes.append(ApplicationChange(name: name, change: .added, newVersion: after.version))
            case (let before?, nil): changes.append(ApplicationChange(name: name, change: .removed, oldVersion: before.version))
            case (let before?, let after?) where before != after:
                changes.append(ApplicationChange(name: name, change: .modified, oldVersion: before.version, newVersion: after.version))
            default: break
            }
        }
        return changes
    }

    /// A file changed when its type, size or modification time differs (what `virt-diff` compares
    /// without `--checksum`); a directory only when it appears or disappears.
    static func files(_ a: [String: FileStatus], _ b: [String: FileStatus]) -> [FileChange] {
        var changes: [FileChange] = []
        for path in Set(a.keys).union(b.keys).sorted() {
            switch (a[path], b[path]) {
            case (nil, let new?): changes.append(FileChange(path: path, change: .added, newSize: new.isDirectory ? nil : new.size))
            case (let old?, nil): changes.append(FileChange(path: path, change: .removed, oldSize: old.isDirectory ? nil : old.size))
            case (let old?, let new?):
                if old.isDirectory && new.isDirectory { continue }
                if old.isDirectory != new.isDirectory || old.size != new.size || old.modifiedSeconds != new.modifiedSeconds {
                    changes.append(FileChange(path: path, change: .modified, oldSize: old.size, newSize: new.size))
                }
            default: break
            }
        }
        return changes
    }
}

/// Walks two hives side by side: keys matched by name (case-insensitive, as Windows does), values
/// by name; a key present on one side only is one change, not one per value below it.
///
/// The hives come from images, i.e. from outside: their keys are walked each at most once and no
/// deeper than Windows allows, since a crafted hive can make keys share subkey lists (2^n paths
/// through n keys) or loop, and each level costs a stack frame.
enum HiveComparison {
    /// Windows' own limit on the depth of a key path.
    static let maximumDepth = 512

    private struct Visited {
        var old = Set<Hive.Node>(), new = Set<Hive.Node>()
    }

    static func compare(hive: String, old: Hive, new: Hive) throws -> [RegistryChange] {
        var changes: [RegistryChange] = []
        var visited = Visited()
        try walk(hive: hive, path: "", depth: 0, old: old, oldNode: old.root, new: new, newNode: new.root,
                 visited: &visited, into: &changes)
        return changes
    }

    private static func walk(hive: String, path: String, depth: Int, old: Hive, oldNode: Hive.Node, new: Hive, newNode: Hive.Node,
                             visited: inout Visited, into changes: inout [RegistryChange]) throws {
        guard depth <= maximumDepth else {
            throw damaged(hive, path, "its keys nest deeper than \(maximumDepth) levels, Windows' limit")
        }
        guard visited.old.insert(oldNode).inserted, visited.new.insert(newNode).inserted else {
            throw damaged(hive, path, "this key is reached twice (keys that loop or share their subkeys)")
        }
        let oldValues = try values(old, oldNode), newValues = try values(new, newNode)
        for key in Set(oldValues.keys).union(newValues.keys).sorted() {
            let before = oldValues[key], after = newValues[key]
            let name = after?.name ?? before?.name ?? key
            switch (before, after) {
            case (nil, let after?):
                changes.append(RegistryChange(hive: hive, key: path, value: name, change: .added, new: after.value.rendered))
            case (let before?, nil):
                changes.append(RegistryChange(hive: hive, key: path, value: name, change: .removed, old: before.value.rendered))
            case (let before?, let after?) where before.value != after.value:
                changes.append(RegistryChange(hive: hive, key: path, value: name, change: .modified,
                                              old: before.value.rendered, new: after.value.rendered))
            default: break
            }
        }
        let oldChildren = try children(old, oldNode), newChildren = try children(new, newNode)
        for key in Set(oldChildren.keys).union(newChildren.keys).sorted() {
            let before = oldChildren[key], after = newChildren[key]
            let childPath = path.isEmpty ? (after?.name ?? before!.name) : path + "\\" + (after?.name ?? before!.name)
            switch (before, after) {
            case (nil, _?): changes.append(RegistryChange(hive: hive, key: childPath, value: nil, change: .added))
            case (_?, nil): changes.append(RegistryChange(hive: hive, key: childPath, value: nil, change: .removed))
            case (let before?, let after?):
                try walk(hive: hive, path: childPath, depth: depth + 1, old: old, oldNode: before.node, new: new, newNode: after.node,
                         visited: &visited, into: &changes)
            default: break
            }
        }
    }

    private static func damaged(_ hive: String, _ path: String, _ problem: String) -> LCMError {
        LCMError(.dataError, "the \(hive) hive of one of the images is damaged at \\\(path.prefix(200)): \(problem)",
                 hint: "the image may be damaged or crafted; do not deploy it, and import it again from a trusted source")
    }

    private static func values(_ hive: Hive, _ node: Hive.Node) throws -> [String: (name: String, value: RegistryValue)] {
        var result: [String: (name: String, value: RegistryValue)] = [:]
        for handle in try hive.values(node) {
            let name = try hive.key(handle)
            let data = try hive.data(handle)
            result[name.lowercased()] = (name, RegistryValue(type: RegistryValueType(rawValue: data.type), data: data.bytes))
        }
        return result
    }

    private static func children(_ hive: Hive, _ node: Hive.Node) throws -> [String: (name: String, node: Hive.Node)] {
        var result: [String: (name: String, node: Hive.Node)] = [:]
        for child in try hive.children(node) {
            let name = try hive.name(child)
            result[name.lowercased()] = (name, child)
        }
        return result
    }
}

extension RegistryValue {
    /// A short human form: strings quoted, numbers in decimal and hex, binary as hex (first 32 bytes).
    var rendered: String {
        if let integer = integerValue, type == .dword || type == .qword || type == .dwordBigEndian {
            return "\(type) \(integer) (0x\(String(integer, radix: 16)))"
        }
        if let string = stringValue { return "\(type) \"\(string)\"" }
        let bytes = data
        let hex = bytes.prefix(32).map { String(format: "%02x", $0) }.joined(separator: " ")
        return "\(type) [\(bytes.count) bytes] \(hex)\(bytes.count > 32 ? " …" : "")"
    }
}
