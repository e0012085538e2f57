/// Minimal Portable Executable headers: what `file(1)` (and so libguestfs inspection, which
/// takes the architecture of a Windows system from `System32\cmd.exe`) needs to recognise a
/// Windows program. Nothing in them runs.
public enum PEImage {
    /// The Windows subsystem a program is built for.
    public enum Subsystem: UInt16 {
        case native = 1
        case windowsGUI = 2
        case windowsConsole = 3
    }

    /// A 1 KiB image: MZ stub, PE signature, COFF header and an optional header for `architecture`
    /// (PE32+ for x86_64, PE32 for i386).
    public static func executable(_ architecture: WindowsDiskSpec.Architecture,
                                  subsystem: Subsystem = .windowsConsole) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 1024)
        func put(_ v: UInt32, _ width: Int, at o: Int) {
            for i in 0..<width { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
        }
        let pe = 0x80
        let optional = pe + 24
        b[0] = 0x4D; b[1] = 0x5A                                      // "MZ"
        put(UInt32(pe), 4, at: 0x3C)                                  // e_lfanew
        b.replaceSubrange(pe..<pe + 4, with: Array("PE\0\0".utf8))
        switch architecture {
        case .x86_64:
            put(0x8664, 2, at: pe + 4)                                // machine: x86-64
            put(0xF0, 2, at: pe + 20)                                 // optional header size
            put(0x0022, 2, at: pe + 22)                               // executable, large-address aware
            put(0x20B, 2, at: optional)                               // PE32+
        case .i386:
            put(0x14C, 2, at: pe + 4)                                 // machine: i386
            put(0xE0, 2, at: pe + 20)
            put(0x0102, 2, at: pe + 22)                               // executable, 32-bit machine
            put(0x10B, 2, at: optional)                               // PE32
        }
        put(UInt32(subsystem.rawValue), 2, at: optional + 68)
        return b
    }
}
