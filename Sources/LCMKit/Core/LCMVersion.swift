/// lcm's version, shown by `lcm --version` and written into certificates and provenance records.
public enum LCMVersion {
    public static let current = "0.1.0"
}
