import Foundation

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal, two digits a byte (digests, seeds, tags).
    public var hexString: String { map { String(format: "%02x", $0) }.joined() }
}
