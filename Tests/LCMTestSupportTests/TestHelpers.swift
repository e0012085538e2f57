import Foundation
import LCMTestSupport

struct ToolError: Error, CustomStringConvertible {
    let description: String
}

/// The path of an executable on PATH (or an sbin directory), or nil.
func findTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Runs a host tool with an argument array (never through a shell).
@discardableResult
func runTool(_ name: String, _ arguments: [String], input: String? = nil, environment: [String: String]? = nil,
             check: Bool = true) throws -> ProgramRun {
    guard let path = findTool(name) else { throw ToolError(description: "\(name) not found") }
    let result = try ProgramRun.run(URL(fileURLWithPath: path), arguments, environment: environment,
                                    input: input.map { Data($0.utf8) })
    if check && result.status != 0 {
        throw ToolError(description: "\(name) \(arguments) exited \(result.status): \(result.stderr)")
    }
    return result
}

/// A fresh directory under the system temporary directory.
func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs blocking work on its own thread, so long appliance launches and VM boots do not hold
/// one of the few threads of Swift's cooperative pool.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// Set LCM_SKIP_APPLIANCE_TESTS=1 to run only the tests that need neither an appliance nor libvirt.
let applianceTestsEnabled = ProcessInfo.processInfo.environment["LCM_SKIP_APPLIANCE_TESTS"] != "1"
