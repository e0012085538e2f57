import Foundation

/// Which accelerator domains and the libguestfs appliance use. Real client devices have working
/// KVM; some hosts (nested virtualisation) advertise KVM whose guests hang, so the choice is explicit.
public enum Accelerator: String, CaseIterable, Sendable, Codable {
    case auto, kvm, tcg

    /// libvirt's domain type for this accelerator, once resolved (auto must be resolved first).
    public var domainType: String { self == .kvm ? "kvm" : "qemu" }
}

extension Accelerator {
    /// The file where `lcm doctor` remembers which accelerator its probe found working, so `auto`
    /// in later runs (cron included) does not hand a hanging KVM to the libguestfs appliance.
    static func memoryURL(home: LCMHome) -> URL { home.url.appendingPathComponent("accelerator") }

    /// `auto` resolved from doctor's last probe on this host; other choices unchanged.
    public func resolved(home: LCMHome) -> Accelerator {
        guard self == .auto,
              let text = try? String(contentsOf: Self.memoryURL(home: home), encoding: .utf8),
              let remembered = Accelerator(rawValue: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              remembered != .auto else { return self }
        return remembered
    }

    /// Records a probe's result (only when lcm's home exists; doctor creates nothing else).
    public static func remember(_ accelerator: Accelerator, home: LCMHome) {
        guard accelerator != .auto, FileManager.default.fileExists(atPath: home.url.path) else { return }
        try? (accelerator.rawValue + "\n").write(to: memoryURL(home: home), atomically: true, encoding: .utf8)
    }
}
