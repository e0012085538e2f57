import Foundation

/// A disk encryption passphrase in memory: 32 random bytes written as 64 lower-case hex
/// characters (qemu and libvirt take the secret as UTF-8 text).
///
/// It prints as `<redacted>`, is not `Codable`, and its bytes are `SecretBytes` (zeroed when released), so the
/// value reaches only the places that need it: the libvirt secret, the escrow (sealed), and a
/// child process's stdin pipe.
public final class DiskPassphrase: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// 256 bits of entropy; the text form is twice as long.
    public static let entropyByteCount = 32
    private let secret: SecretBytes

    /// A fresh random passphrase (`getrandom` through the system generator).
    public static func random() -> DiskPassphrase {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8](repeating: 0, count: entropyByteCount * 2)
        for index in 0..<entropyByteCount {
            let byte = UInt8.random(in: 0...255, using: &generator)
            text[2 * index] = digits[Int(byte >> 4)]
            text[2 * index + 1] = digits[Int(byte & 0x0f)]
        }
        defer { wipe(&text) }
        return DiskPassphrase(text: text)
    }

    /// Wraps bytes from the escrow or a test. The caller should wipe its own copy.
    public init(text: [UInt8]) {
        secret = SecretBytes(copying: text)
    }

    /// Length in bytes of the text form.
    public var count: Int { secret.count }

    /// Runs `body` with the passphrase bytes; do not let them escape.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try secret.withBytes(body)
    }

    /// A copy as an array (for APIs that take one, such as `Secret.setValue`). Wipe it after use.
    public func bytes() -> [UInt8] { withBytes { Array($0) } }

    /// Constant-time comparison, for tests and verification.
    public func matches(_ other: DiskPassphrase) -> Bool {
        guard count == other.count else { return false }
        return withBytes { a in
            other.withBytes { b in
                var difference: UInt8 = 0
                for index in 0..<a.count { difference |= a[index] ^ b[index] }
                return difference == 0
            }
        }
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "DiskPassphrase(<redacted>)" }

    /// Overwrites an array's bytes with zeros.
    public static func wipe(_ bytes: inout [UInt8]) { SecretBytes.wipe(&bytes) }

    /// Overwrites `Data`'s bytes with zeros.
    public static func wipe(_ data: inout Data) { SecretBytes.wipe(&data) }
}
