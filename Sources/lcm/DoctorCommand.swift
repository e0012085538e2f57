import ArgumentParser
import LCMKit

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check every prerequisite of lcm and say how to fix what fails.",
        discussion: """
            Checks libvirt, lcm's storage pool on the device, which accelerator really runs guests \
            (a short probe boot: some hosts advertise KVM whose guests hang), UEFI firmware, an emulated \
            TPM, a libguestfs appliance launch (timed), lcm's home and the inventory schema. \
            Exits 3 when a required check fails.
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Skip the slow probes (accelerator boot and appliance launch).")
    var quick = false

    func run() throws {
        try global.report { context in
            let doctor = Doctor(context: context, quick: quick)
            let report = doctor.run()
            return Rendered(report, exitCode: report.ok ? 0 : LCMExitCode.checkFailed.rawValue, text: Self.text)
        }
    }

    /// One line per check (passes left out with --quiet), its fix under it, then the verdict.
    static func text(_ report: DoctorReport, quiet: Bool) -> String {
        var text = ""
        for check in report.checks where !(quiet && check.status == .pass) {
            let mark = check.status.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)
            text += "\(mark)  \(check.name.padding(toLength: 21, withPad: " ", startingAt: 0)) \(check.detail)\n"
            if let fix = check.fix, check.status != .pass { text += "      \(String(repeating: " ", count: 21)) fix: \(fix)\n" }
        }
        if let accel = report.accelerator { text += "accelerator to use: \(accel)\n" }
        text += report.ok ? "lcm is ready.\n" : "lcm is not ready: fix the failed checks above.\n"
        return text
    }
}
