import CHivex
import Foundation

/// A registry hive file opened with libhivex, read-only or for writing (changes reach the file
/// only through `commit`). Not thread-safe: use one per thread.
public final class Hive {
    public typealias Node = Int
    public typealias ValueHandle = Int

    private let handle: OpaquePointer
    public let path: String

    public init(path: String, write: Bool = false) throws {
        errno = 0
        guard let handle = hivex_open(path, write ? HIVEX_OPEN_WRITE : 0) else { throw HivexError(operation: "open", path: path, code: errno) }
        self.handle = handle
        self.path = path
    }

    /// An anonymous in-memory file (memfd) and its path, `/proc/self/fd/N`, for a hive copied out
    /// of an image: it never reaches a disk and disappears when `descriptor` is closed.
    public static func memoryFile(name: String) throws -> (descriptor: Int32, path: String) {
        let descriptor = lcm_hivex_memfd(name)
        guard descriptor >= 0 else { throw HivexError(operation: "memfd_create", path: name, code: errno) }
        return (descriptor, "/proc/self/fd/\(descriptor)")
    }

    /// Writes the changes to the file the hive was opened from.
    public func commit() throws {
        errno = 0
        guard hivex_commit(handle, nil, 0) == 0 else { throw HivexError(operation: "commit", path: path, code: errno) }
    }

    /// Adds the subkey `name` under `parent`.
    public func addChild(_ parent: Node, _ name: String) throws -> Node {
        try node("node_add_child") { hivex_node_add_child(handle, parent, name) }
    }

    /// Deletes the key and everything under it (not the root).
    public func deleteChild(_ node: Node) throws {
        errno = 0
        guard hivex_node_delete_child(handle, node) == 0 else { throw HivexError(operation: "node_delete_child", path: path, code: errno) }
    }

    /// Adds or replaces the value `key` ("" for the default value) of `node`.
    public func setValue(_ node: Node, key: String, type: UInt32, bytes: [UInt8]) throws {
        errno = 0
        let result = key.withCString { keyPointer in
            bytes.withUnsafeBufferPointer { buffer in
                var value = hive_set_value(key: UnsafeMutablePointer(mutating: keyPointer), t: hive_type(rawValue: type), len: bytes.count,
                                           value: UnsafeMutableRawPointer(mutating: buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!)
                                               .assumingMemoryBound(to: CChar.self))
                return hivex_node_set_value(handle, node, &value, 0)
            }
        }
        guard result == 0 else { throw HivexError(operation: "node_set_value", path: path, code: errno) }
    }

    deinit { hivex_close(handle) }

    public var root: Node {
        get throws { try node("root") { hivex_root(handle) } }
    }

    public func name(_ node: Node) throws -> String {
        try string("node_name") { hivex_node_name(handle, node) }
    }

    /// Seconds since 1970 of the key's last write (0 when the hive does not record it).
    public func timestamp(_ node: Node) -> Int64 {
        let filetime = hivex_node_timestamp(handle, node)
        guard filetime > 0 else { return 0 }
        return filetime / 10_000_000 - 11_644_473_600
    }

    public func children(_ node: Node) throws -> [Node] {
        try handles("node_children") { hivex_node_children(handle, node) }
    }

    /// The subkey named `name` (case-insensitive, as Windows matches), or nil.
    public func child(_ node: Node, _ name: String) throws -> Node? {
        try optionalHandle("node_get_child") { hivex_node_get_child(handle, node, name) }
    }

    /// The value named `key` ("" for the default value), or nil.
    public func value(_ node: Node, _ key: String) throws -> ValueHandle? {
        try optionalHandle("node_get_value") { hivex_node_get_value(handle, node, key) }
    }

    public func values(_ node: Node) throws -> [ValueHandle] {
        try handles("node_values") { hivex_node_values(handle, node) }
    }

    /// The value's name ("" for the key's default value).
    public func key(_ value: ValueHandle) throws -> String {
        try string("value_key") { hivex_value_key(handle, value) }
    }

    /// The value's registry type (REG_SZ = 1, REG_DWORD = 4, ...) and raw bytes.
    public func data(_ value: ValueHandle) throws -> (type: UInt32, bytes: [UInt8]) {
        var type = hive_type(0)
        var length = 0
        errno = 0
        guard let pointer = hivex_value_value(handle, value, &type, &length) else {
            throw HivexError(operation: "value_value", path: path, code: errno)
        }
        defer { free(pointer) }
        let bytes = pointer.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
        return (UInt32(type.rawValue), bytes)
    }

    private func node(_ operation: String, _ body: () -> Int) throws -> Node {
        errno = 0
        let node = body()
        if node == 0 { throw HivexError(operation: operation, path: path, code: errno) }
        return node
    }

    /// libhivex returns 0 both for "not found" (errno untouched) and for errors (errno set).
    private func optionalHandle(_ operation: String, _ body: () -> Int) throws -> Int? {
        errno = 0
        let found = body()
        if found != 0 { return found }
        if errno != 0 { throw HivexError(operation: operation, path: path, code: errno) }
        return nil
    }

    private func string(_ operation: String, _ body: () -> UnsafeMutablePointer<CChar>?) throws -> String {
        errno = 0
        guard let pointer = body() else { throw HivexError(operation: operation, path: path, code: errno) }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// libhivex returns 0-terminated arrays of handles (an empty array is valid, NULL is an error).
    private func handles(_ operation: String, _ body: () -> UnsafeMutablePointer<Int>?) throws -> [Int] {
        errno = 0
        guard let list = body() else { throw HivexError(operation: operation, path: path, code: errno) }
        defer { free(list) }
        var result: [Int] = []
        var index = 0
        while list[index] != 0 { result.append(list[index]); index += 1 }
        return result
    }
}

public struct HivexError: Error, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var code: Int32

    public var description: String {
        let reason = code == 0 ? "unknown error" : String(cString: strerror(code))
        return "hivex \(operation) on \(path): \(reason)"
    }
}
