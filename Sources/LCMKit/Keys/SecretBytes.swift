import Foundation

/// Bytes of a secret (a disk passphrase, a join blob) in one buffer of their own that is zeroed
/// before it is freed, and that Swift never copies: unlike `Data` or `[UInt8]`, whose
/// copy-on-write storage may be duplicated by any mutation or bridging and freed unwiped.
/// Prints as `<redacted>`; not `Codable`.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let storage: UnsafeMutableRawBufferPointer
    /// Length of the secret in bytes.
    public let count: Int

    /// Copies `bytes` in; the caller wipes its own copy (`SecretBytes.wipe`).
    public init(copying bytes: some Collection<UInt8>) {
        count = bytes.count
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        for (index, byte) in bytes.enumerated() { storage[index] = byte }
    }

    deinit {
        memset_s_portable(storage.baseAddress, storage.count)
        storage.deallocate()
    }

    /// Runs `body` with the bytes; do not let them escape.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "SecretBytes(<redacted>, \(count) bytes)" }

    /// Overwrites an array's bytes with zeros (a transient copy, once it is no longer needed).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { memset_s_portable($0.baseAddress, $0.count) }
    }

    /// Overwrites `Data`'s bytes with zeros.
    public static func wipe(_ data: inout Data) {
        data.withUnsafeMutableBytes { memset_s_portable($0.baseAddress, $0.count) }
    }
}

/// memset that the optimizer may not drop (glibc has explicit_bzero).
@inline(never)
func memset_s_portable(_ pointer: UnsafeMutableRawPointer?, _ count: Int) {
    guard let pointer, count > 0 else { return }
    explicit_bzero(pointer, count)
}
