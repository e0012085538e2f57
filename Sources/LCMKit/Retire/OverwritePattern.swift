import Crypto
import _CryptoExtras
import Foundation

/// What an overwrite pass writes, computable at any offset: a resumed pass and a verifier
/// regenerate exactly the bytes a pass wrote from the pattern alone.
///
/// The random pattern is AES-256 in counter mode over zeros, keyed by a fresh 32-byte seed, with
/// the counter block `nonce (8 bytes) || offset / 16 (8 bytes, big-endian)`: a CSPRNG stream
/// whose every 16-byte block is addressable, so any chunk is generated without the ones before.
public enum OverwritePattern: Sendable, Equatable, Codable {
    /// AES-256-CTR keystream from `seed` (32 bytes) and `nonce` (8 bytes).
    case random(seed: [UInt8], nonce: [UInt8])
    /// Every byte `value` (zero for a zero pass; 0x55/0xAA/... for legacy multi-pass methods).
    case constant(UInt8)

    /// A random pattern with a seed from the system CSPRNG.
    public static func freshRandom() -> OverwritePattern {
        var generator = SystemRandomNumberGenerator()
        return .random(seed: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) },
                       nonce: (0..<8).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Words for the certificate: the generator, never its seed.
    public var generatorName: String {
        switch self {
        case .random: "AES-256-CTR keystream (CSPRNG, seed from the system random source)"
        case .constant(let value): String(format: "constant 0x%02X", value)
        }
    }

    /// Fills `buffer` with the pattern's bytes for `[offset, offset + buffer.count)`.
    /// `offset` must be a multiple of 16 for the random pattern (every caller writes in
    /// sector-aligned chunks).
    public func fill(_ buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        switch self {
        case .constant(let value):
            buffer.initializeMemory(as: UInt8.self, repeating: value)
        case .random(let seed, let nonce):
            guard seed.count == 32, nonce.count == 8, offset % 16 == 0 else {
                throw LCMError(.failure, "random overwrite pattern: a 32-byte seed, an 8-byte nonce and 16-byte aligned offsets are needed")
            }
            let key = SymmetricKey(data: seed)
            var filled = 0
            while filled < buffer.count {
                let count = min(Self.zeros.count, buffer.count - filled)
                let block = offset / 16 + UInt64(filled / 16)
                let counter = nonce + withUnsafeBytes(of: block.bigEndian) { Array($0) }
                // Encrypting zeros yields the bare keystream.
                let stream = try AES._CTR.encrypt(UnsafeRawBufferPointer(rebasing: Self.zeros[0..<count]),
                                                  using: key, nonce: try AES._CTR.Nonce(nonceBytes: counter))
                stream.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + count)]).copyMemory(from: source)
                }
                filled += count
            }
        }
    }

    /// A page of zeros to encrypt (one allocation for the process).
    nonisolated(unsafe) private static let zeros: UnsafeRawBufferPointer = {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeRawBufferPointer(buffer)
    }()
}
