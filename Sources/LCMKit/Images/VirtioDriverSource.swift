import Archive
import Foundation

/// The virtio-win driver media (the ISO or its unpacked tree): `<driver>/<os>/<arch>/` folders
/// with each driver's .sys, .inf and .cat. Picks the folder that fits an inspected Windows.
public struct VirtioDriverSource: Sendable {
    /// The drivers lcm installs, as the media names their folders, and their role.
    public static let drivers: [(folder: String, service: String, storage: Bool)] = [
        ("viostor", "viostor", true), ("vioscsi", "vioscsi", true), ("NetKVM", "netkvm", false),
    ]

    /// One driver's files for the chosen Windows folder.
    public struct Driver: Sendable {
        public var service: String
        public var storage: Bool
        /// e.g. "viostor/w11/amd64"
        public var folder: String
        public var files: [(name: String, data: Data)]
        /// PCI hardware IDs from the INF's models section, e.g. "VEN_1AF4&DEV_1001".
        public var pciIDs: [String]
        public var infName: String? { files.first { $0.name.lowercased().hasSuffix(".inf") }?.name }
    }

    public let source: String

    public init(source: String) { self.source = source }

    /// Media folder names to try, best first, for a Windows version.
    public static func osFolders(for inspection: WindowsInspection) -> [String] {
        let major = inspection.majorVersion ?? 0, minor = inspection.minorVersion ?? 0
        let build = inspection.buildNumber ?? 0
        let server = (inspection.installationType ?? "Client").caseInsensitiveCompare("Server") == .orderedSame
        if server {
            if build >= 26100 { return ["2k25", "2k22"] }
            if build >= 20348 { return ["2k22", "2k19"] }
            if build >= 17763 { return ["2k19", "2k16"] }
            if build >= 14393 { return ["2k16", "2k12R2"] }
            if major == 6 && minor == 3 { return ["2k12R2"] }
            if major == 6 && minor == 2 { return ["2k12"] }
            return ["2k8R2", "2k8"]
        }
        if major >= 10 { return build >= 22000 ? ["w11", "w10"] : ["w10"] }
        if major == 6 && minor == 3 { return ["w8.1", "w8"] }
        if major == 6 && minor == 2 { return ["w8"] }
        return ["w7"]
    }

    public static func archFolder(for inspection: WindowsInspection) -> String {
        inspection.architecture == "i386" ? "x86" : "amd64"
    }

    /// The drivers for `inspection`'s Windows, read from the directory or the ISO.
    public func drivers(for inspection: WindowsInspection) throws -> [Driver] {
        let folders = Self.osFolders(for: inspection), arch = Self.archFolder(for: inspection)
        let files = try listing()
        var found: [Driver] = []
        for driver in Self.drivers {
            guard let os = folders.first(where: { os in files.keys.contains { Self.matches($0, driver.folder, os, arch) } }) else { continue }
            let selected = files.filter { Self.matches($0.key, driver.folder, os, arch) }
                .sorted { $0.key < $1.key }
                .map { (name: ($0.key as NSString).lastPathComponent, data: $0.value) }
            guard selected.contains(where: { $0.name.lowercased() == "\(driver.service).sys" }) else { continue }
            let inf = selected.first { $0.name.lowercased().hasSuffix(".inf") }.map { String(decoding: $0.data, as: UTF8.self) } ?? ""
            found.append(Driver(service: driver.service, storage: driver.storage, folder: "\(driver.folder)/\(os)/\(arch)",
                                files: selected, pciIDs: Self.pciIDs(inInf: inf)))
        }
        guard found.contains(where: \.storage) else {
            throw LCMError(.dataError, "\(source) has no virtio storage driver for \(inspection.osName ?? "this Windows") (looked in \(folders.map { "viostor/\($0)/\(arch)" }.joined(separator: ", ")))",
                           hint: "use a virtio-win ISO recent enough for this Windows version (https://fedorapeople.org/groups/virt/virtio-win/)")
        }
        return found
    }

    /// "viostor/w11/amd64/viostor.sys" belongs to (viostor, w11, amd64); case-insensitive.
    static func matches(_ path: String, _ driver: String, _ os: String, _ arch: String) -> Bool {
        let parts = path.split(separator: "/").map { $0.lowercased() }
        return parts.count == 4 && parts[0] == driver.lowercased() && parts[1] == os.lowercased() && parts[2] == arch.lowercased()
    }

    /// The most driver files lcm reads from media into memory, all files together. Real media
    /// hold a few MiB per driver folder; media from outside (an ISO, or a tar.gz or zip, which
    /// libarchive also reads) could otherwise make lcm hold gigabytes.
    static let maximumDriverBytes = 256 << 20

    /// Every file of the media below the driver folders, by relative path (only these are read).
    func listing() throws -> [String: Data] {
        var budget = Self.maximumDriverBytes
        func charge(_ bytes: Int, _ path: String) throws {
            budget -= bytes
            guard budget >= 0 else {
                throw LCMError(.dataError, "\(source): the driver folders hold more than \(Self.maximumDriverBytes >> 20) MiB (at \(path)); virtio-win media hold a few MiB per driver",
                               hint: "give the virtio-win ISO or its unpacked directory as published")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw LCMError(.notFound, "\(source) does not exist", hint: "give the virtio-win ISO or its unpacked directory")
        }
        let wanted = Set(Self.drivers.map { $0.folder.lowercased() })
        var result: [String: Data] = [:]
        if isDirectory.boolValue {
            let root = URL(fileURLWithPath: source)
            for driver in try FileManager.default.contentsOfDirectory(atPath: source) where wanted.contains(driver.lowercased()) {
                let enumerator = FileManager.default.enumerator(atPath: root.appendingPathComponent(driver).path)
                while let relative = enumerator?.nextObject() as? String {
                    let url = root.appendingPathComponent(driver).appendingPathComponent(relative)
                    guard relative.split(separator: "/").count == 3 else { continue }
                    // Only regular files, never a symlink: a link in the media could name any
                    // host file, which would then be copied into the image.
                    var status = stat()
                    guard lstat(url.path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
                    let file = try InputFile(url.path, what: "driver file")
                    try charge(Int(file.size), url.path)
                    result["\(driver)/\(relative)"] = try file.contents(limit: file.size)
                }
            }
        } else {
            do {
                let media = try InputFile(source, what: "virtio-win ISO or directory", allowBlockDevice: true)
                let reader = try ArchiveReader(contentsOf: URL(fileURLWithPath: media.toolPath))
                defer { reader.close() }
                while let entry = try reader.nextEntry() {
                    let path = entry.path.hasPrefix("./") ? String(entry.path.dropFirst(2)) : entry.path
                    let parts = path.split(separator: "/")
                    guard entry.kind == .regularFile, parts.count == 4, wanted.contains(parts[0].lowercased()) else { continue }
                    var data = Data()
                    try reader.readData { chunk in
                        try charge(chunk.count, path)
                        data.append(contentsOf: chunk)
                    }
                    result[path] = data
                }
            } catch let error as LCMError {
                throw error
            } catch {
                throw LCMError(.dataError, "cannot read \(source) as driver media: \(error)",
                               hint: "give the virtio-win ISO or its unpacked directory")
            }
        }
        return result
    }

    /// PCI IDs (vendor and device) named in an INF, in order of first mention. The IDs seen are
    /// kept in a set: an INF from outside can name hundreds of thousands.
    static func pciIDs(inInf text: String) -> [String] {
        var ids: [String] = []
        var seen = Set<String>()
        let pattern = "PCI\\\\(VEN_[0-9A-Fa-f]{4}&DEV_[0-9A-Fa-f]{4})"
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            guard let range = Range(match.range(at: 1), in: text) else { continue }
            let id = text[range].uppercased()
            if seen.insert(id).inserted { ids.append(id) }
        }
        return ids
    }
}
