import Foundation

/// What a host tool printed and how it exited.
struct ToolResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The path of an executable on PATH, or nil.
func findTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

struct ToolError: Error, CustomStringConvertible {
    let description: String
}

/// Runs a host tool with an argument array (never through a shell), feeding `input` on stdin.
@discardableResult
func runTool(_ name: String, _ arguments: [String], input: String? = nil, check: Bool = true) throws -> ToolResult {
    guard let executable = findTool(name) else { throw ToolError(description: "\(name) not found on PATH") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes before waiting so a chatty tool cannot block on a full pipe.
    let errData = ReadInBackground(err.fileHandleForReading)
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let result = ToolResult(
        status: process.terminationStatus,
        stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData.wait(), as: UTF8.self))
    if check && result.status != 0 {
        throw ToolError(description: "\(name) \(arguments) exited \(result.status): \(result.stderr)")
    }
    return result
}

/// Drains a file handle on another thread.
final class ReadInBackground: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}

/// A fresh directory under the system temporary directory.
func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(prefix)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Serializes `capturingStderr`: two overlapping redirections would restore fd 2 wrongly.
private let stderrRedirection = NSLock()

/// Runs `body` with file descriptor 2 redirected to a file; returns its result and what
/// was written to stderr meanwhile (by anything in the process).
func capturingStderr<T>(_ body: () throws -> T) throws -> (result: Result<T, any Error>, stderr: String) {
    stderrRedirection.lock()
    defer { stderrRedirection.unlock() }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: file.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: file) }
    let handle = try FileHandle(forWritingTo: file)
    fflush(nil)
    let saved = dup(2)
    guard saved >= 0, dup2(handle.fileDescriptor, 2) >= 0 else {
        throw ToolError(description: "cannot redirect stderr")
    }
    let result = Result { try body() }
    fflush(nil)
    dup2(saved, 2)
    close(saved)
    try handle.close()
    let text = String(decoding: try Data(contentsOf: file), as: UTF8.self)
    return (result, text)
}
