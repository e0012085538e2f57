import Foundation

/// Which libvirt URIs reach lcm's own machine.
public enum DiskHost {
    /// A URI without a host part (`qemu:///system`, `qemu+unix:///system`, `test:///default`)
    /// talks to this machine's libvirtd, whose pool paths lcm can open directly. Any URI naming a
    /// host (even 127.0.0.1) is treated as a remote device and reached through streams only.
    public static func isLocal(uri: String) -> Bool {
        guard let components = URLComponents(string: uri) else { return false }
        return (components.host ?? "").isEmpty
    }
}
