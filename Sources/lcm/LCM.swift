import ArgumentParser
import LCMKit

@main
struct LCM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lcm",
        abstract: "Manage the whole life of Windows desktops that run as VMs on client hypervisors (libvirt).",
        discussion: """
            Devices are hardware assets running libvirt; desktops are Windows VMs living on a device; \
            both are assigned to users. lcm is non-interactive: every command reports with --format json \
            for scripts, takes locks so concurrent runs never corrupt each other, and exits with a code \
            from this table:

            \(LCMExitCode.table)

            The global options --home, --connect, --format, --quiet, --verbose and --accel go after \
            the subcommand or before it (`lcm --connect URI deploy ...`); given in both places, the one \
            after the subcommand wins.
            """,
        version: LCMVersion.current,
        subcommands: [DoctorCommand.self, ProcureCommand.self, ImageCommand.self, DeployCommand.self, ManageCommand.self, RetireCommand.self, InventoryCommand.self, RecoverCommand.self]
    )

    static func main() {
        main(GlobalArguments.placed(Array(CommandLine.arguments.dropFirst()), root: LCM.self))
    }
}
