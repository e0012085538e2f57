import Archive
import Foundation
import LCMTestSupport
import Testing

/// The virtio-win driver media stand-in, as a directory and as an ISO. Needs no appliance.
@Suite("Virtio driver media")
struct VirtioDriverMediaTests {
    let media = VirtioDriverMedia()

    @Test func layoutHasEveryDriverTargetAndArchitecture() {
        let paths = Set(media.filePaths)
        #expect(paths.count == media.files.count, "no path twice")
        for driver in media.drivers {
            for target in media.targets {
                for architecture in VirtioDriverMedia.Architecture.allCases {
                    let dir = media.directory(driver, target, architecture)
                    let expected = target.architectures.contains(architecture)
                    for name in [driver.sysName, driver.infName, driver.catalogName] {
                        #expect(paths.contains("\(dir)/\(name)") == expected, "\(dir)/\(name)")
                    }
                }
            }
        }
        // Three files per driver directory and nothing else.
        #expect(paths.count == media.driverDirectories.count * 3)
        // What the real media has: no 32-bit builds for Windows 11 and the 2019+ servers.
        let directories = Set(media.targets.map(\.directory))
        #expect(directories.isSuperset(of: ["w7", "w8.1", "w10", "w11", "2k19", "2k22"]))
        for target in media.targets where ["w11", "2k19", "2k22"].contains(target.directory) {
            #expect(target.architectures == [.amd64])
        }
    }

    /// The storage drivers' IDs are those the registry content uses for installed drivers.
    @Test func hardwareIDsMatchTheInstalledDriverRegistry() {
        for (service, deviceIDs) in WindowsRegistryContent.virtioBootDrivers {
            let driver = media.drivers.first { $0.baseName == service }
            #expect(driver?.deviceIDs == deviceIDs, "\(service)")
        }
        #expect(VirtioDriverMedia.Driver.netKVM.deviceClass == .net)
        #expect(media.hardwareIDs.allSatisfy { $0.hasPrefix("PCI\\VEN_1AF4&DEV_") && $0.contains("&SUBSYS_") })
    }

    /// Each INF names its class, class GUID, catalog and version, and lists the driver's
    /// hardware IDs in the models section its [Manufacturer] line points to, decorated for its
    /// architecture.
    @Test func infsDescribeTheirPackage() throws {
        for driver in media.drivers {
            for target in media.targets {
                for architecture in target.architectures {
                    let text = media.inf(driver, target, architecture)
                    let sections = parseINF(text)
                    let version = sections["version"] ?? [:]
                    #expect(version["signature"] == "\"$WINDOWS NT$\"")
                    #expect(version["class"] == driver.deviceClass.rawValue)
                    #expect(version["classguid"] == driver.deviceClass.classGUID)
                    #expect(version["catalogfile"] == driver.catalogName)
                    #expect(version["driverver"] == "\(media.driverDate),\(media.driverVersion)")
                    #expect(version["provider"] == "%VENDOR%")
                    #expect(sections["strings"]?["vendor"] == "\"\(media.provider)\"")

                    let manufacturer = try #require(sections["manufacturer"]?.values.first)
                    let parts = manufacturer.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    let platform = architecture == .amd64 ? "NTamd64" : "NTx86"
                    #expect(parts.count == 2 && parts[1].hasPrefix(platform + "."), "\(manufacturer)")
                    let models = try #require(sections["\(parts[0]).\(parts[1])".lowercased()], "models section of \(manufacturer)")
                    let listed = models.values.compactMap { $0.split(separator: ",").last?.trimmingCharacters(in: .whitespaces) }
                    #expect(Set(listed) == Set(driver.hardwareIDs), "\(driver.baseName) \(target.directory) \(architecture)")
                }
            }
        }
    }

    /// Written to a directory: exactly the listed files, byte for byte, with `file(1)` seeing
    /// the drivers as PE32+ or PE32 by architecture and the catalogs as well-formed DER.
    @Test func directoryHoldsExactlyTheFiles() throws {
        let dir = try makeTemporaryDirectory("lcm-virtio-dir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let urls = try media.write(to: dir)
        #expect(urls.count == media.files.count)
        #expect(try regularFiles(under: dir) == Set(media.filePaths))
        for file in media.files {
            #expect(try Data(contentsOf: dir.appendingPathComponent(file.path)) == Data(file.bytes), "\(file.path)")
        }
        for target in media.targets {
            for architecture in target.architectures {
                let sys = dir.appendingPathComponent("\(media.directory(.viostor, target, architecture))/viostor.sys")
                let description = try runTool("file", ["-b", sys.path]).stdout
                let expected = architecture == .amd64 ? "PE32+ executable (native) x86-64" : "PE32 executable (native) Intel 80386"
                #expect(description.hasPrefix(expected), "\(target.directory)/\(architecture): \(description)")
            }
        }
        let catalog = dir.appendingPathComponent("\(media.directory(.netKVM, .windows11, .amd64))/netkvm.cat")
        let parsed = try runTool("openssl", ["asn1parse", "-inform", "DER", "-in", catalog.path]).stdout
        #expect(parsed.contains("pkcs7-signedData"), "\(parsed)")
    }

    /// The same media gives the same files, and different parameters give different files.
    @Test func contentIsDeterministic() throws {
        #expect(VirtioDriverMedia().files == media.files)
        let first = try makeTemporaryDirectory("lcm-virtio-a")
        let second = try makeTemporaryDirectory("lcm-virtio-b")
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        try media.write(to: first)
        try media.write(to: second)
        for path in media.filePaths {
            #expect(try Data(contentsOf: first.appendingPathComponent(path)) == Data(contentsOf: second.appendingPathComponent(path)))
        }
        let other = VirtioDriverMedia { $0.driverVersion = "100.95.104.26200"; $0.targets = [.windows10] }
        #expect(other.files.count == other.drivers.count * 2 * 3)
        #expect(other.inf(.viostor, .windows10, .amd64) != media.inf(.viostor, .windows10, .amd64))
        #expect(other.inf(.viostor, .windows10, .amd64).contains("DriverVer=\(media.driverDate),100.95.104.26200"))
    }

    /// The ISO form reads back through ArchiveReader with the same paths and bytes, and Windows
    /// (Joliet) sees the same names as Linux (Rock Ridge).
    @Test func isoReadsBackWithIdenticalBytes() throws {
        let dir = try makeTemporaryDirectory("lcm-virtio-iso")
        defer { try? FileManager.default.removeItem(at: dir) }
        let iso = dir.appendingPathComponent("virtio-win.iso")
        try media.writeISO(to: iso)

        let reader = try ArchiveReader(contentsOf: iso)
        var contents: [String: Data] = [:]
        var directories = Set<String>()
        while let entry = try reader.nextEntry() {
            let path = entry.path.hasSuffix("/") ? String(entry.path.dropLast()) : entry.path
            switch entry.kind {
            case .regularFile: contents[path] = try reader.readData()
            case .directory: directories.insert(path)
            default: Issue.record("unexpected \(entry.kind) \(entry.path)")
            }
        }
        #expect(Set(contents.keys) == Set(media.filePaths))
        for file in media.files {
            #expect(contents[file.path] == Data(file.bytes), "\(file.path)")
        }
        #expect(directories.isSuperset(of: Set(media.driverDirectories)))

        // xorriso reads the Joliet tree (what Windows uses) when told to ignore Rock Ridge.
        let listing = try runTool("xorriso", ["-read_fs", "norock", "-indev", iso.path, "-find", "/", "-type", "f"],
                                  check: false)
        let jolietPaths = Set(listing.stdout.split(separator: "\n").map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")).trimmingCharacters(in: .whitespaces)
        }.filter { $0.hasPrefix("/") }.map { String($0.dropFirst()) })
        #expect(jolietPaths == Set(media.filePaths), "xorriso: \(listing.stderr.suffix(500))")
        let volume = try runTool("xorriso", ["-indev", iso.path, "-pvd_info"], check: false).stdout
        #expect(volume.contains(media.volumeLabel), "\(volume)")
    }

    /// Two ISO writes carry the same files; the cached ISO is one file per media content.
    @Test func cachedISOIsTheSameFileForTheSameMedia() throws {
        let cache = try makeTemporaryDirectory("lcm-virtio-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let first = try media.cachedISO(cacheDirectory: cache)
        let bytes = try Data(contentsOf: first)
        let second = try VirtioDriverMedia().cachedISO(cacheDirectory: cache)
        #expect(second == first)
        #expect(try Data(contentsOf: second) == bytes)
        let other = try VirtioDriverMedia { $0.targets = [.windows11] }.cachedISO(cacheDirectory: cache)
        #expect(other != first)
        #expect(VirtioDriverMedia { $0.volumeLabel = "OTHER" }.contentKey != media.contentKey)
    }

    // MARK: Helpers

    /// Paths of the regular files below `root`, relative to it.
    private func regularFiles(under root: URL) throws -> Set<String> {
        let base = root.resolvingSymlinksInPath().path + "/"
        var result = Set<String>()
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = enumerator?.nextObject() as? URL {
            guard try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true else { continue }
            result.insert(String(url.resolvingSymlinksInPath().path.dropFirst(base.count)))
        }
        return result
    }

    /// An INF as sections of `key = value` lines (section and key names lower-cased, comments
    /// and blank lines dropped; a line without '=' is keyed by itself).
    private func parseINF(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current = ""
        for raw in text.components(separatedBy: "\r\n") {
            let line = raw.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first
                .map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).lowercased()
                sections[current, default: [:]] = sections[current] ?? [:]
                continue
            }
            let pair = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let key = pair[0].lowercased()
            // Models sections repeat the description key; keep every line.
            let uniqueKey = sections[current]?[key] == nil ? key : "\(key)#\(sections[current]!.count)"
            sections[current, default: [:]][uniqueKey] = pair.count > 1 ? pair[1] : pair[0]
        }
        return sections
    }
}
