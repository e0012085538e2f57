import Foundation

/// Where image versions live on lcm's host: `$LCM_HOME/images/<name>/<version>.qcow2`, read-only
/// files in private directories. Files being produced wait in `images/.incoming/` under a random
/// name until they are complete, checked and cataloged, so a store path always holds a whole image.
public struct ImageStore: Sendable {
    public let home: LCMHome

    public init(home: LCMHome) { self.home = home }

    public var root: URL { home.url.appendingPathComponent("images") }
    public var incoming: URL { root.appendingPathComponent(".incoming") }

    public func path(name: String, version: String) -> String {
        root.appendingPathComponent(name).appendingPathComponent("\(version).qcow2").path
    }

    /// A fresh path in the incoming directory (created 0700 on first use).
    public func incomingPath() throws -> String {
        try makePrivate(incoming)
        return incoming.appendingPathComponent("\(UUID().uuidString.lowercased()).qcow2").path
    }

    /// Creates `directory` (and the store above it) 0700 when missing.
    func makePrivate(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root.path)
        } catch {
            throw LCMError(.cannotWrite, "cannot create \(directory.path): \(LCMError.reason(error))",
                           hint: "check that \(home.url.path) is writable and has free space")
        }
    }

    /// Moves a finished incoming file to its store path and makes it read-only.
    public func publish(_ incomingPath: String, name: String, version: String) throws -> String {
        let destination = path(name: name, version: version)
        let directory = (destination as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        guard chmod(incomingPath, 0o444) == 0 else {
            throw LCMError(.cannotWrite, "cannot make \(incomingPath) read-only: \(String(cString: strerror(errno)))")
        }
        if FileManager.default.fileExists(atPath: destination) {
            throw LCMError(.conflict, "\(destination) already exists and is not in the catalog",
                           hint: "move it away (a leftover of an interrupted run), then retry; `lcm recover` cleans such leftovers")
        }
        guard rename(incomingPath, destination) == 0 else {
            throw LCMError(.cannotWrite, "cannot move the image into \(directory): \(String(cString: strerror(errno)))")
        }
        return destination
    }

    /// Removes a version's file and, when it was the last, its image directory.
    public func remove(path: String) {
        unlink(path)
        let directory = (path as NSString).deletingLastPathComponent
        if (try? FileManager.default.contentsOfDirectory(atPath: directory))?.isEmpty == true { rmdir(directory) }
    }
}

/// `NAME` (the newest version), `NAME:VERSION` or `NAME@VERSION`.
public struct ImageReference: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var version: String?

    public init(name: String, version: String? = nil) { self.name = name; self.version = version }

    public init(parsing text: String) throws {
        // NAME:VERSION, or NAME@VERSION as deploy's documentation writes it (names hold neither).
        let parts = text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: { $0 == ":" || $0 == "@" }).map(String.init)
        try ImageNames.validate(name: parts[0])
        if parts.count == 2 { try ImageNames.validate(version: parts[1]) }
        self.init(name: parts[0], version: parts.count == 2 ? parts[1] : nil)
    }

    public var description: String { version.map { "\(name):\($0)" } ?? name }
}

/// Rules for image names and versions: they become file names and appear in domain XML.
public enum ImageNames {
    public static func validate(name: String) throws { try NameRule.image.validate(name) }
    public static func validate(version: String) throws { try NameRule.imageVersion.validate(version) }
}
