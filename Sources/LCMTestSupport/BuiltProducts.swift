import Foundation

/// Finds executables built alongside the running test bundle (lcm, lcm-testkit), so tests can run
/// them as separate processes the way users and cron do.
public enum BuiltProducts {
    public static var directory: URL {
        let argument0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var url = argument0.deletingLastPathComponent()
        // The test runner may live inside an .xctest bundle directory.
        while url.pathExtension == "xctest" || url.lastPathComponent == "Contents" || url.lastPathComponent == "MacOS" {
            url = url.deletingLastPathComponent()
        }
        return url
    }

    public static func executable(_ name: String) -> URL {
        directory.appendingPathComponent(name)
    }
}

/// Runs a program with an argument array (never a shell string) and captures its output.
public struct ProgramRun: Sendable {
    public var status: Int32
    /// True when the process was ended by a signal; `status` is then the signal number.
    public var signaled: Bool
    public var stdout: String
    public var stderr: String

    @discardableResult
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                           input: Data? = nil) throws -> ProgramRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try? inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so neither fills up and blocks the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProgramRun(status: process.terminationStatus,
                          signaled: process.terminationReason == .uncaughtSignal,
                          stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errData, as: UTF8.self))
    }

    public static func run(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> ProgramRun {
        try run(URL(fileURLWithPath: path), arguments, environment: environment)
    }
}
