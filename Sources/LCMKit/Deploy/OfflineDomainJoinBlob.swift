import Foundation

/// The offline domain join blob (`djoin /provision /savefile`): base64 text that carries the
/// machine account's password. Like `DiskPassphrase` it prints as `<redacted>`, is not
/// `Codable`, and its bytes are `SecretBytes` (zeroed when released); it reaches only the answer file on the disk.
public final class OfflineDomainJoinBlob: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let secret: SecretBytes

    /// The base64 text itself (whitespace and a trailing NUL are dropped).
    public convenience init(base64Text: String) throws {
        var bytes = Array(base64Text.utf8)
        defer { DiskPassphrase.wipe(&bytes) }
        try self.init(asciiText: bytes)
    }

    /// The contents of the file `djoin /provision /savefile` wrote: UTF-16LE (with or without a
    /// byte order mark) as djoin writes it, or plain ASCII.
    public convenience init(savefileContents raw: [UInt8]) throws {
        var bytes = raw
        if bytes.starts(with: [0xFF, 0xFE]) { bytes.removeFirst(2) }
        let looksUTF16 = bytes.count >= 2 && bytes.count % 2 == 0
            && stride(from: 1, to: bytes.count, by: 2).allSatisfy { bytes[$0] == 0 }
        if looksUTF16 { bytes = stride(from: 0, to: bytes.count, by: 2).map { bytes[$0] } }
        defer { DiskPassphrase.wipe(&bytes) }
        try self.init(asciiText: bytes)
    }

    private init(asciiText: [UInt8]) throws {
        var text = asciiText.filter { !($0 == 0 || $0 == 0x20 || (0x09...0x0D).contains($0)) }
        defer { DiskPassphrase.wipe(&text) }
        let alphabet = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8))
        // The error never quotes the text: it is a credential.
        guard !text.isEmpty, text.count % 4 == 0, text.allSatisfy(alphabet.contains),
              !text.dropLast(2).contains(UInt8(ascii: "=")) else {
            throw LCMError(.dataError, "the offline domain join blob is not base64 text as `djoin /provision /savefile` writes it",
                           hint: "pass the file djoin wrote, unchanged")
        }
        secret = SecretBytes(copying: text)
    }

    /// Length of the base64 text in bytes.
    public var count: Int { secret.count }

    /// Runs `body` with the base64 bytes; do not let them escape.
    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try secret.withBytes(body)
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "OfflineDomainJoinBlob(<redacted>, \(count) bytes)" }
}
