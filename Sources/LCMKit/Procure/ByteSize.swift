import Foundation

/// Sizes as admins write them: "16GiB", "512 MiB", "1TiB", "256GB". Binary units (KiB, MiB, GiB,
/// TiB) are powers of 1024; decimal ones (KB, MB, GB, TB) powers of 1000, as vendors print them.
/// A bare number is refused: "16" could mean bytes or GiB, and guessing wrong sizes a disk wrongly.
public enum ByteSize {
    static let units: [(suffix: String, factor: UInt64)] = [
        ("kib", 1 << 10), ("mib", 1 << 20), ("gib", 1 << 30), ("tib", 1 << 40),
        ("kb", 1_000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("tb", 1_000_000_000_000),
        ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40), ("b", 1),
    ]

    /// Parses a size; nil with no unit, a negative or a non-number.
    public static func parse(_ text: String) -> UInt64? {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        for (suffix, factor) in units where lowered.hasSuffix(suffix) {
            let number = lowered.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  let value = Double(number), value >= 0 else { return nil }
            let bytes = value * Double(factor)
            guard bytes < 9.0e18 else { return nil }
            return UInt64(bytes.rounded())
        }
        return nil
    }

    /// The most readable binary form: "16 GiB", "1.5 TiB", "512 MiB".
    public static func format(_ bytes: UInt64) -> String {
        let units: [(String, UInt64)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        for (name, factor) in units where bytes >= factor {
            let value = Double(bytes) / Double(factor)
            if bytes % factor == 0 { return "\(bytes / factor) \(name)" }
            return String(format: "%.1f %@", value, name)
        }
        return "\(bytes) B"
    }

    /// The compact form a profile file uses ("16GiB"), exact when the size is a whole number of a unit.
    public static func compact(_ bytes: UInt64) -> String {
        for (name, factor) in [("TiB", UInt64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(name)"
        }
        return "\(bytes)B"
    }
}
