import Foundation

/// Host programs the fixtures use (qemu-img, ldd, xz, ...), run with argument arrays.
enum HostTool {
    /// Where to look besides PATH: sbin directories are often missing from it.
    static let extraDirectories = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin"]

    static func path(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in path.split(separator: ":").map(String.init) + extraDirectories {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw WindowsDiskError.toolMissing(name)
    }

    static func exists(_ name: String) -> Bool { (try? path(name)) != nil }

    /// Runs `name` and returns its output; a non-zero exit throws.
    @discardableResult
    static func run(_ name: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ProgramRun {
        let result = try ProgramRun.run(try path(name), arguments, environment: environment)
        guard result.status == 0, !result.signaled else {
            let output = (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
            throw WindowsDiskError.toolFailed(tool: ([name] + arguments).joined(separator: " "), status: result.status,
                                              output: String(output.suffix(2000)))
        }
        return result
    }
}
