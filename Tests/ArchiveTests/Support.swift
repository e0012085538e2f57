import Foundation
import Testing

@testable import Archive

/// A fresh directory under /tmp, removed by `remove()`.
struct Scratch {
    let url: URL

    init() throws {
        var template = Array("/tmp/archive-tests-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw ArchiveError(.system, "mkdtemp failed") }
        url = URL(fileURLWithPath: String(cString: path), isDirectory: true)
    }

    func path(_ relative: String) -> URL { url.appendingPathComponent(relative) }

    func remove() { try? FileManager.default.removeItem(at: url) }

    /// Names directly inside the scratch directory (including hidden temporaries).
    func listing() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }
}

/// Deterministic pseudo-random bytes, so failures are reproducible.
func pseudoRandomBytes(count: Int, seed: UInt64) -> Data {
    var state = seed | 1
    var data = Data(capacity: count)
    for _ in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        data.append(UInt8(truncatingIfNeeded: state))
    }
    return data
}

func write(_ data: Data, to url: URL) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try data.write(to: url)
}

struct ToolResult {
    var status: Int32
    var output: Data
    var stdout: String
    var stderr: String
}

/// Runs an external program with an argument array (no shell); stderr goes to a file so a
/// chatty tool cannot block on a full pipe while we read stdout.
func runTool(_ executable: String, _ arguments: [String]) throws -> ToolResult {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let errorURL = scratch.path("stderr")
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
    let errorHandle = try FileHandle(forWritingTo: errorURL)
    defer { try? errorHandle.close() }
    let output = Pipe()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = errorHandle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolResult(
        status: process.terminationStatus,
        output: stdout,
        stdout: String(decoding: stdout, as: UTF8.self),
        stderr: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
}

/// What a reader saw: kind, data (regular files), symlink target, per path.
struct ReadBack: Equatable, CustomStringConvertible {
    var kind: ArchiveEntry.Kind
    var data: Data?
    var symlinkTarget: String?

    var description: String { "\(kind) \(data.map { "\($0.count) bytes" } ?? "") \(symlinkTarget ?? "")" }
}

func readAll(_ url: URL) throws -> [String: ReadBack] {
    let reader = try ArchiveReader(contentsOf: url)
    var result: [String: ReadBack] = [:]
    while let entry = try reader.nextEntry() {
        let path = entry.path.hasSuffix("/") ? String(entry.path.dropLast()) : entry.path
        // The ISO reader reports the root directory itself as "./".
        if path == "." { continue }
        let data = entry.kind == .regularFile ? try reader.readData() : nil
        result[path] = ReadBack(kind: entry.kind, data: data, symlinkTarget: entry.symlinkTarget)
    }
    return result
}

/// A tree on disk as path -> ReadBack, without following symlinks.
func snapshot(_ root: URL) throws -> [String: ReadBack] {
    var result: [String: ReadBack] = [:]
    let manager = FileManager.default
    guard let walker = manager.enumerator(atPath: root.path) else { return result }
    while let relative = walker.nextObject() as? String {
        let full = root.appendingPathComponent(relative).path
        let attributes = try manager.attributesOfItem(atPath: full)
        switch attributes[.type] as? FileAttributeType {
        case .typeDirectory?:
            result[relative] = ReadBack(kind: .directory)
        case .typeSymbolicLink?:
            result[relative] = ReadBack(kind: .symbolicLink, symlinkTarget: try manager.destinationOfSymbolicLink(atPath: full))
        default:
            result[relative] = ReadBack(kind: .regularFile, data: try Data(contentsOf: URL(fileURLWithPath: full)))
        }
    }
    return result
}

/// Builds a plain ustar archive byte by byte, so tests can produce hostile entries that the
/// writers in this module refuse to create.
struct RawTar {
    private(set) var bytes = Data()

    mutating func add(name: String, type: Character = "0", data: Data = Data(), linkName: String = "", mode: Int = 0o644) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (index, byte) in text.utf8.prefix(width).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            put(String(repeating: "0", count: max(0, width - 1 - String(value, radix: 8).count)) + String(value, radix: 8), at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(mode, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(data.count, at: 124, width: 12)
        octal(1_700_000_000, at: 136, width: 12)
        put(String(type), at: 156, width: 1)
        put(linkName, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put("        ", at: 148, width: 8)
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(String(repeating: "0", count: 6 - String(checksum, radix: 8).count) + String(checksum, radix: 8), at: 148, width: 6)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        bytes.append(contentsOf: header)
        bytes.append(data)
        bytes.append(contentsOf: [UInt8](repeating: 0, count: (512 - data.count % 512) % 512))
    }

    func finished() -> Data {
        bytes + Data(count: 1024)
    }
}
