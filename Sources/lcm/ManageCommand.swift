import ArgumentParser
import Foundation
import LCMKit

struct ManageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manage",
        abstract: "Look after deployed desktops: status, offline patching and rollback (rollout and snapshots come later).",
        subcommands: [Status.self, PatchCommand.self, AppCommand.self, Rollback.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show desktops: domain state, image version, disks with backing chains and encryption, personalization.",
            discussion: "Reads libvirt on each device and the inventory. Exit code 0; 66 for an unknown desktop or device.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Desktops (default: every one not retired; a retired desktop is shown when named).")
        var desktops: [String] = []
        @Option(help: ArgumentHelp("Only the desktops on this device.", valueName: "tag"))
        var device: String?

        func run() throws {
            try global.report { context in
                let reports = try DesktopStatusReader.read(names: desktops, device: device, context: context)
                // Like a batch: 69 when no desktop's device answered, 2 when some did not.
                let unreachable = reports.filter { !$0.reachable }
                let problems = unreachable.isEmpty ? [] : [LCMError(.unavailable, "the device of \(unreachable.map(\.desktop).joined(separator: ", ")) is unreachable",
                                                                    hint: "check that libvirtd runs there; the inventory's view is shown")]
                let exitCode = unreachable.isEmpty ? LCMExitCode.success : unreachable.count == reports.count ? .unavailable : .partialFailure
                return Rendered(reports, problems: problems, exitCode: exitCode.rawValue) { $0.isEmpty ? "no desktops\n" : DeployReports.text($0) }
            }
        }
    }
}

extension ManageCommand {
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Switch desktops back to their previous OS layer; the user-data disk is not touched.",
            discussion: """
                `lcm manage rollback DESKTOP...` (or --device TAG, or --run RUN-ID for every desktop whose current \
                layer that patch run made: a bad patch undone across the fleet; --dry-run shows the plan). Each \
                patch run gives a desktop a new OS layer \
                on top of the old one; a rollback switches the newest layer out, deletes it, and boots the layer \
                under it again: what the guest changed since that patch (Windows updates, settings, files outside \
                the user-data disk) goes with it. A desktop with only the layer it was deployed with cannot be \
                rolled back (exit 4). Repeat to go back further. The patch items of the layer switched out are \
                recorded as rolled-back; items that ran in it but are still queued in the layer brought back are \
                read back offline (one appliance launch for the run) and staged again, with their patch media. \
                A running desktop is refused (exit 4) unless --shutdown. Shares the patch runs' lock: one at a \
                time, a second waits --lock-wait seconds, then exits 75. Exit codes: 0 all rolled back, the \
                failing desktop's code when there is only one, 2 when some of several failed.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Desktops to roll back.")
        var desktops: [String] = []
        @Option(help: ArgumentHelp("Every desktop on this device.", valueName: "tag"))
        var device: String?
        @Option(name: .customLong("run"), help: ArgumentHelp("Every desktop whose current OS layer this patch run made (its id, or the first 8 characters or more): undoes that run across the fleet.",
                                   valueName: "run-id"))
        var runID: String?
        @Flag(help: "Shut running desktops down gracefully, roll them back, and start them again (default: a running desktop is refused).")
        var shutdown = false
        @Flag(name: .customLong("dry-run"), help: "Show what would be switched and which items would go; change nothing.")
        var dryRun = false
        @Option(name: .customLong("lock-wait"), help: ArgumentHelp("Seconds to wait for a patch or rollback run to finish before giving up with exit code 75.", valueName: "seconds"))
        var lockWait: Double = 300

        func validate() throws {
            if [!desktops.isEmpty, device != nil, runID != nil].filter({ $0 }).count != 1 { throw ValidationError("give one of DESKTOP..., --device TAG or --run RUN-ID") }
            if lockWait < 0 { throw ValidationError("--lock-wait must not be negative") }
        }

        func run() throws {
            try global.report { context in
                let inventory = try context.inventory()
                var options = DesktopRollback.Options()
                options.shutdown = shutdown
                options.dryRun = dryRun
                let lock = try DesktopPatcher.lockRun(home: inventory.home, wait: lockWait)
                defer { lock.unlock() }
                let rollback = try DesktopRollback(context: context, options: options)
                let names = try runID.map { try rollback.select(run: $0) }
                    ?? DesktopPatcher(context: context).select(names: desktops, device: device, all: false)
                return try rollback.run(desktops: names)
            }
        }
    }
}

/// Which desktops (beside the ones named as arguments), or which golden image, a patch or app
/// command acts on.
struct PatchTargets: ParsableArguments {
    @Option(help: ArgumentHelp("Every desktop on this device.", valueName: "tag"))
    var device: String?
    @Flag(help: "Every deployed desktop.")
    var all = false
    @Option(help: ArgumentHelp("Every desktop whose inventory status is this (\(DesktopStatus.allCases.map(\.rawValue).joined(separator: ", "))); narrows --device.",
                               valueName: "status"))
    var status: DesktopStatus?
    @Option(help: ArgumentHelp("Patch this golden image instead: the result is its next version (NAME, NAME:VERSION).", valueName: "ref"))
    var image: String?

    func validate(desktops: [String]) throws {
        let chosen = [!desktops.isEmpty, device != nil, all, image != nil].filter { $0 }.count
        if status != nil {
            if !desktops.isEmpty || image != nil { throw ValidationError("--status selects desktops: it does not go with DESKTOP... or --image") }
            if chosen > 1 { throw ValidationError("give one of --device or --all with --status") }
            return
        }
        if chosen != 1 { throw ValidationError("give exactly one of DESKTOP..., --device, --all, --status or --image") }
    }
}

extension DesktopStatus: ExpressibleByArgument {}

/// How a patch run behaves; shared by `patch` and `app install`.
struct PatchRunOptions: ParsableArguments {
    @Flag(help: "Shut running desktops down gracefully, patch them, and start them again (default: queue their patch until they stop).")
    var shutdown = false
    @Option(name: .customLong("max-parallel"), help: ArgumentHelp("Desktops per appliance launch (default: all in one).", valueName: "n"))
    var maxParallel: Int?
    @Option(name: .customLong("lock-wait"), help: ArgumentHelp("Seconds to wait for another patch run to finish before giving up with exit code 75.", valueName: "seconds"))
    var lockWait: Double = 300
    @Option(name: .customLong("new-version"), help: ArgumentHelp("With --image: the new version's name (default: the next number).", valueName: "version"))
    var version: String?

    func validate() throws {
        if let maxParallel, maxParallel < 1 { throw ValidationError("--max-parallel must be at least 1") }
        if lockWait < 0 { throw ValidationError("--lock-wait must not be negative") }
    }
}

struct PatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch",
        abstract: "Patch desktops or a golden image offline, and read the outcomes back.",
        subcommands: [Apply.self, Status.self, Hook.self],
        defaultSubcommand: Apply.self)

    struct Hook: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install (or remove) the libvirt hook that applies a desktop's queued patch when it stops.",
            discussion: """
                Writes /etc/libvirt/hooks/qemu.d/lcm-patch-<id> for this lcm home and reloads the local libvirtd                 (SIGHUP) so it sees the hook. The hook never calls libvirtd itself: when a desktop with a queued                 patch has stopped, it starts `lcm manage patch --apply-queued DESKTOP` detached and returns. For                 a device lcm reaches remotely, run --apply-queued from cron instead (examples/). Run as root on                 the device.
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Remove the hook instead.")
        var uninstall = false

        func run() throws {
            try global.report { context in
                let home = context.settings.home
                if uninstall {
                    let removed = PatchHook.uninstall(home: home)
                    return PlainText(removed ? "removed the patch hook of \(home.url.path)\n" : "no patch hook for \(home.url.path)\n")
                }
                try home.prepare()
                let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
                let installed = try PatchHook.install(home: home, executable: Bundle.main.executablePath ?? executable)
                let notes = installed.daemonReloaded ? [] : ["note: reload libvirtd (systemctl reload libvirtd, or SIGHUP) so it sees the hook"]
                return Rendered(installed, notes: notes) { "installed \($0.path)\n" }
            }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Apply .reg files offline and stage .msu/.cab/.msi/.ps1/.cmd files to run once at the next boot (the default subcommand).",
            discussion: """
                `lcm manage patch DESKTOP... --add FILE...` (or --device TAG, --all, --image NAME). Every file is \
                read and checked first: a malformed .reg is refused with its line, before anything is touched. \
                Each stopped desktop gets a new OS layer holding the patch, switched in only when complete; all \
                desktops of a run are patched in one appliance launch (--max-parallel splits it). A running \
                desktop is not touched: its patch is queued and applied when it stops (--apply-queued, run by the \
                device's libvirt hook or by cron), or with --shutdown it is shut down first and started again. \
                A golden image gets a new immutable version. One run at a time: a second waits --lock-wait \
                seconds, then exits 75. Prints one summary line with --quiet (for cron). Exit codes: 0 all \
                patched or queued, 2 some failed, or the failing desktop's code when there is only one.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Desktops to patch.")
        var desktops: [String] = []
        @OptionGroup var targets: PatchTargets
        @OptionGroup var runOptions: PatchRunOptions
        @Option(name: .customLong("add"), parsing: .upToNextOption, help: ArgumentHelp("Files to apply, in order.", valueName: "file"))
        var files: [String] = []
        @Flag(name: .customLong("apply-queued"), help: "Apply what is queued for stopped desktops (all, or the ones named).")
        var applyQueued = false

        func validate() throws {
            if applyQueued {
                if !files.isEmpty || targets.image != nil || targets.device != nil || targets.all || targets.status != nil {
                    throw ValidationError("--apply-queued takes only desktop names")
                }
                return
            }
            try targets.validate(desktops: desktops)
            if files.isEmpty { throw ValidationError("name the files to apply with --add FILE...") }
        }

        func run() throws {
            try global.report { context in
                try PatchCommand.execute(context, desktops: desktops, targets: targets, options: runOptions, files: files, applyQueued: applyQueued)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read patch outcomes back offline: per desktop and item pending, succeeded, failed (exit code), reboot pending.",
            discussion: """
                Opens each stopped desktop's OS layer read-only (one appliance launch for all): the runner's log, \
                what is still queued, and Windows' own servicing state (UBR, CBS packages, RebootPending); records \
                the outcomes in the inventory (history in `lcm inventory events`). Also says whether answer files \
                holding secrets (a domain join blob, passwords, a product key) are still on the volume: removed, \
                still present (with their paths), or not yet booted. Running desktops are shown from the records. \
                Exit code 0, or 3 when any item failed or the runner could not remove an answer file.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Desktops (default: every desktop with patch records).")
        var desktops: [String] = []
        @Option(help: ArgumentHelp("Every desktop on this device.", valueName: "tag"))
        var device: String?

        func run() throws {
            try global.report { context in
                let inventory = try context.inventory()
                var names = desktops
                if names.isEmpty {
                    names = device != nil
                        ? try DesktopPatcher(context: context).select(names: [], device: device, all: false, status: nil)
                        : try DesktopPatcher.patchedDesktops(inventory: inventory)
                }
                let statuses = try PatchStatusReader(context: context).read(names: names)
                let failed = statuses.contains { $0.items.contains { $0.state == .failed } || ($0.answerFiles?.exitCode ?? 0) != 0 && $0.answerFiles?.state == .stillPresent }
                return Rendered(statuses, exitCode: failed ? LCMExitCode.checkFailed.rawValue : 0) {
                    $0.isEmpty ? "no patched desktops\n" : PatchReports.text($0)
                }
            }
        }
    }

    static func execute(_ context: LCMContext, desktops: [String], targets: PatchTargets, options: PatchRunOptions, files: [String],
                        applyQueued: Bool) throws -> any CommandResult {
        let inventory = try context.inventory()
        var patcherOptions = DesktopPatcher.Options()
        patcherOptions.shutdown = options.shutdown
        patcherOptions.maxParallel = options.maxParallel
        let lock = try DesktopPatcher.lockRun(home: inventory.home, wait: options.lockWait)
        defer { lock.unlock() }
        if applyQueued {
            return PatchRunResult(try DesktopPatcher(context: context, options: patcherOptions).applyQueued(names: desktops))
        }
        // Every file is read and checked before any disk is touched.
        let set = try PatchSet(paths: files)
        if let image = targets.image {
            let report = try ImagePatch.run(set, parent: try ImageReference(parsing: image), version: options.version,
                                            context: context)
            return Rendered(report, text: PatchReports.text)
        }
        let patcher = try DesktopPatcher(context: context, options: patcherOptions)
        let names = try patcher.select(names: desktops, device: targets.device, all: targets.all, status: targets.status)
        return PatchRunResult([try patcher.run(set, desktops: names)])
    }
}

struct AppCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "app",
        abstract: "Install applications offline: the installer is staged and run once, as SYSTEM, at the next boot.",
        subcommands: [Install.self])

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stage an installer (.msi, or a .ps1/.cmd that installs) for desktops or a golden image.",
            discussion: "The same route and rules as `lcm manage patch`: new OS layer or image version, queue for running desktops, one run at a time. `lcm manage patch status` reads the outcome back.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("The desktops (none with --device, --all or --image), then the installer file (.msi, .ps1 or .cmd).",
                                     valueName: "desktop... file"))
        var arguments: [String] = []
        @OptionGroup var targets: PatchTargets
        @OptionGroup var runOptions: PatchRunOptions

        var file: String { arguments.last ?? "" }
        var desktops: [String] { Array(arguments.dropLast()) }

        func validate() throws {
            guard !arguments.isEmpty else { throw ValidationError("name the installer file") }
            try targets.validate(desktops: desktops)
            let kind = URL(fileURLWithPath: file).pathExtension.lowercased()
            guard ["msi", "ps1", "cmd"].contains(kind) else {
                throw ValidationError("an installer is an .msi, .ps1 or .cmd file (updates go through `lcm manage patch --add`)")
            }
        }

        func run() throws {
            try global.report { context in
                try PatchCommand.execute(context, desktops: desktops, targets: targets, options: runOptions, files: [file], applyQueued: false)
            }
        }
    }
}
