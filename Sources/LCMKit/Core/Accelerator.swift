/// Which accelerator domains and the libguestfs appliance use. Real client devices have working
/// KVM; some hosts (nested virtualisation) advertise KVM whose guests hang, so the choice is explicit.
public enum Accelerator: String, CaseIterable, Sendable, Codable {
    case auto, kvm, tcg

    /// libvirt's domain type for this accelerator, once resolved (auto must be resolved first).
    public var domainType: String { self == .kvm ? "kvm" : "qemu" }
}
