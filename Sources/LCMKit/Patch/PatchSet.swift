import Foundation

/// The files of one `lcm manage patch --add ...` run, read and checked before any disk is touched:
/// `.reg` files are parsed whole (a malformed one is refused with its line), the others must be
/// readable files of a kind the boot-time runner knows.
public struct PatchSet: Sendable {
    /// One file of the set, as the inventory records it.
    public struct Item: Codable, Sendable, Equatable {
        /// The file's name on lcm's machine.
        public var file: String
        public var kind: StagedItem.Kind
        public var bytes: Int64
        public var sha256: String
        /// Applied to the offline hives (`.reg`), or staged for the next boot.
        public var appliedOffline: Bool { kind == .reg }
    }

    public let items: [Item]
    /// The files on lcm's machine, as given (same order as `items`).
    public let sources: [String]
    public let registry: RegistryPatch
    /// Files for the boot-time queue, in the order given (orders are assigned when queued).
    public private(set) var staged: [StagedItem]

    /// Kinds the runner carries out at boot; `.reg` is applied offline instead.
    public static let stagedKinds: [StagedItem.Kind] = [.msu, .cab, .msi, .ps1, .cmd]

    /// Reads `paths` (in order). Throws before anything is changed: a missing or unreadable file,
    /// an unknown extension, a malformed .reg, the same file twice, or nothing at all.
    public init(paths: [String]) throws {
        guard !paths.isEmpty else {
            throw LCMError(.usage, "nothing to apply", hint: "name the files with --add FILE (.reg, .msu, .cab, .msi, .ps1, .cmd)")
        }
        var items: [Item] = [], sources: [String] = [], regFiles: [RegFile] = [], staged: [StagedItem] = []
        var seen: Set<String> = []
        for path in paths {
            let url = URL(fileURLWithPath: path)
            let extensionName = url.pathExtension.lowercased()
            // `purge` is lcm's own queue kind, never a file an admin hands in.
            guard let kind = StagedItem.Kind(rawValue: extensionName), kind == .reg || Self.stagedKinds.contains(kind) else {
                throw LCMError(.usage, "\(path): lcm cannot apply .\(extensionName.isEmpty ? "(no extension)" : extensionName) files",
                               hint: "use .reg (applied offline), or .msu, .cab, .msi, .ps1, .cmd (run once at the next boot)")
            }
            // Opened once: a FIFO or a device is refused before anything reads it.
            let file = try InputFile(path, what: "patch file (.reg, .msu, .cab, .msi, .ps1, .cmd)")
            let sha256 = try FileDigest.sha256(path: file.toolPath)
            guard seen.insert(sha256).inserted else {
                throw LCMError(.usage, "\(path) is given twice (same content as an earlier --add)")
            }
            let bytes = Int64(file.size)
            if kind == .reg {
                regFiles.append(try RegFile(contentsOf: path))
            } else {
                staged.append(StagedItem(order: 0, name: Self.queueName(url.deletingPathExtension().lastPathComponent), kind: kind,
                                         source: url.standardizedFileURL.path))
            }
            items.append(Item(file: url.lastPathComponent, kind: kind, bytes: bytes, sha256: sha256))
            sources.append(url.standardizedFileURL.path)
        }
        self.items = items
        self.sources = sources
        self.registry = RegistryPatch(files: regFiles)
        self.staged = staged
    }

    /// The same set with its staged files on the patch medium `mediumID` (`PatchMedium`): the
    /// boot queue then gets placeholders that name each file's path on the medium and its hash.
    public func onMedium(_ mediumID: String) -> PatchSet {
        var copy = self
        let hashes = items.filter { !$0.appliedOffline }.map(\.sha256)
        copy.staged = zip(staged.indices, zip(staged, hashes)).map { index, pair in
            var (item, sha256) = pair
            item.medium = MediumReference(path: mediumID + "/" + Self.mediumFileName(index: index, item: item), sha256: sha256)
            return item
        }
        return copy
    }

    /// The staged files with their paths on a medium, in queue order.
    public var mediumFiles: [(path: String, source: String)] {
        staged.compactMap { item in item.medium.flatMap { medium in item.source.map { (medium.path, $0) } } }
    }

    /// `NN-<name>.<kind>`: unique within the set, and short enough for Joliet (64 characters).
    static func mediumFileName(index: Int, item: StagedItem) -> String {
        String(format: "%02d-", index + 1) + String(item.name.prefix(56)) + "." + item.kind.rawValue
    }

    /// Bytes the staged files take inside the image.
    public var stagedBytes: Int64 { items.filter { !$0.appliedOffline }.reduce(0) { $0 + $1.bytes } }

    /// A file name the queue accepts: letters, digits, `.`, `_`, `-`; anything else becomes `_`.
    static func queueName(_ base: String) -> String {
        let allowed = CharacterSet.alphanumerics
        let mapped = base.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (allowed.contains(scalar) || "._-".unicodeScalars.contains(scalar)) ? Character(scalar) : "_"
        }
        let name = String(mapped.prefix(64))
        return name.isEmpty ? "item" : name
    }
}
