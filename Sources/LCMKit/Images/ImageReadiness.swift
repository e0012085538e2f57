import Foundation

/// One thing that stands between an image and a safe fleet rollout, with its fix.
public struct ReadinessProblem: Codable, Sendable, Equatable {
    public enum Severity: String, Codable, Sendable {
        /// Rolling out would break desktops or lcm's offline work.
        case blocker
        /// Works, but worse than it should (e.g. an emulated NIC instead of virtio).
        case warning
    }

    /// Stable identifier for scripts: "not-generalized", "hibernated", ...
    public var id: String
    public var severity: Severity
    public var detail: String
    public var fix: String
}

/// Judges an inspection: what must change before the image goes to every device.
public enum ImageReadiness {
    public static func problems(_ inspection: WindowsInspection) -> [ReadinessProblem] {
        var problems: [ReadinessProblem] = []
        func add(_ id: String, _ severity: ReadinessProblem.Severity, _ detail: String, _ fix: String) {
            problems.append(ReadinessProblem(id: id, severity: severity, detail: detail, fix: fix))
        }
        if !inspection.bitLockerPartitions.isEmpty {
            add("bitlocker", .blocker,
                "BitLocker encrypts \(inspection.bitLockerPartitions.joined(separator: ", ")): lcm cannot read, patch or personalize the image offline",
                "turn BitLocker off in the source system (manage-bde -off C:), wait for decryption to finish, shut down, export again; desktops get lcm's own disk encryption")
        }
        guard inspection.isWindows else {
            if inspection.bitLockerPartitions.isEmpty {
                add("no-windows", .blocker, "no Windows installation found", "import a disk that holds a Windows system volume")
            }
            return problems
        }
        if !inspection.generalization.generalized {
            add("not-generalized", .blocker,
                "not generalized (ImageState \(inspection.generalization.imageState ?? "missing")): every clone would share the SID, MachineGuid and update-client IDs",
                "boot the image once and run `sysprep /generalize /oobe /shutdown`, then import the result as a new version")
        }
        if inspection.hibernation.hibernated || !inspection.hibernation.writableOffline {
            add("hibernated", .blocker,
                "Windows is hibernated (hiberfil.sys \(inspection.hibernation.hiberfilSignature ?? "present")): the volume cannot be written offline, and writing it anyway would lose data",
                "boot it and shut down fully (`shutdown /s /t 0`), or run `powercfg /h off` before the final shutdown")
        }
        if inspection.hibernation.fastStartupEnabled {
            add("fast-startup", .blocker,
                "Fast Startup is on (HiberbootEnabled = 1): every shutdown leaves the volume hibernated and closed to offline writes",
                "turn it off (`powercfg /h off`, or HiberbootEnabled = 0) before the final shutdown")
        }
        if !inspection.virtio.hasStorageDriver {
            add("no-virtio-storage", .blocker,
                "no virtio storage driver (viostor or vioscsi as a boot driver): Windows stops with INACCESSIBLE_BOOT_DEVICE (0x7B) on a virtio disk",
                "`lcm image drivers add <image> --virtio <virtio-win ISO or directory>`")
        }
        if !inspection.virtio.hasNetworkDriver {
            add("no-virtio-network", .warning,
                "no virtio network driver (NetKVM): desktops need an emulated NIC, which is slower",
                "`lcm image drivers add <image> --virtio <virtio-win ISO or directory>`")
        }
        for file in inspection.answerFiles where !file.secrets.isEmpty {
            add("answer-file-secrets", .blocker,
                "\(file.path) holds \(file.secrets.joined(separator: ", ")) in clear text, copied to every desktop",
                "delete it from the source system before capturing (sysprep leaves it in Windows\\Panther), then import again")
        }
        for file in inspection.answerFiles where file.declaresEntities == true {
            add("answer-file-entities", .blocker,
                "\(file.path) declares a document type or entities, which lcm refuses to read (they can pull host files into the image): desktops cannot be personalized",
                "remove the <!DOCTYPE ...> from it in the source system, then import again")
        }
        // lcm's own first-boot setup (pnputil for injected drivers) is meant to run on every desktop.
        let patches = inspection.lcmQueue.pendingItemNames.filter { !$0.hasSuffix(VirtioDriverInjector.queueItemSuffix) }
        if !patches.isEmpty {
            add("lcm-queue-pending", .warning,
                "\(patches.count) offline patch item(s) are staged and not yet run: \(patches.joined(separator: ", "))",
                "boot the image once so the runner empties the queue, then capture it as a new version")
        }
        if inspection.servicing.rebootPending || !inspection.servicing.pendingPackages.isEmpty {
            add("servicing-pending", .warning,
                "Windows updates wait for a reboot (\(inspection.servicing.pendingPackages.count) package(s) pending)",
                "boot the source system once more to finish servicing, then capture it")
        }
        return problems
    }
}
