import Foundation

/// A log of certificate hashes kept outside lcm's home (a file on another filesystem, a
/// write-once mount, a file a log shipper forwards): someone who can rewrite the home and its
/// key cannot rewrite what was already appended there. One line per certificate:
/// `SEQUENCE SHA256 PATH`.
public enum CertificateHashLog {
    /// The absolute path of a log the admin named, refused inside the home: a log there is
    /// rewritten with the rest of it, and would only look like protection.
    public static func location(_ path: String, home: LCMHome) throws -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let homePath = home.url.standardizedFileURL.resolvingSymlinksInPath().path
        if absolute == homePath || absolute.hasPrefix(homePath + "/") {
            throw LCMError(.usage, "the certificate hash log \(absolute) is inside lcm's home \(homePath)",
                           hint: "name a file on another filesystem or machine, or one a log shipper forwards")
        }
        return absolute
    }

    public static func append(to path: String, sequence: Int, sha256: String, certificatePath: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            throw LCMError(.cannotWrite, "cannot open the certificate hash log \(path): \(String(cString: strerror(errno)))",
                           hint: "give a writable file outside lcm's home to --append-hash-to")
        }
        defer { close(fd) }
        let line = Array("\(sequence) \(sha256) \(certificatePath)\n".utf8)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            throw LCMError(.cannotWrite, "cannot append to the certificate hash log \(path): \(String(cString: strerror(errno)))",
                           hint: "free space on its filesystem")
        }
    }

    /// The log's entries: sequence → every SHA-256 logged for it (a run killed after logging and
    /// before recording issues that sequence again).
    public static func read(_ path: String) throws -> [Int: Set<String>] {
        let file = try InputFile(path, what: "certificate hash log")
        let text = String(decoding: try file.contents(limit: 64 << 20), as: UTF8.self)
        var entries: [Int: Set<String>] = [:]
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count >= 2, let sequence = Int(fields[0]), fields[1].count == 64 else {
                throw LCMError(.dataError, "\(path) line \(number + 1) is not `SEQUENCE SHA256 PATH`",
                               hint: "give the file lcm appended to with --append-hash-to")
            }
            entries[sequence, default: []].insert(String(fields[1]))
        }
        return entries
    }
}
